#!/usr/bin/env bash
# The shop as separate processes on NATS, behind the `micro api` gateway.
#
#   bash examples/shop.sh                                        # a private nats-server
#   MICRO_NATS_URL=nats://127.0.0.1:4222 bash examples/shop.sh   # a server of yours
#
# What it does, in order:
#   1. builds `shop_service` (examples/shop_service.rs) and `micro` (micro-cli);
#   2. without MICRO_NATS_URL, starts nats-server on a free loopback port;
#   3. starts each service as its own process: inventory, notifications, orders, and two
#      payments instances (they share the load through the queue group);
#   4. starts the gateway, `micro api`, on a free loopback port;
#   5. calls it with curl: a stock read, an order (metadata from `X-Micro-*` headers travels
#      to every service), a sold-out item (409 from inventory), a declined card (402 from
#      payments), and, with `micro call --timeout 10ms`, a deadline too short (408);
#   6. restarts one payments instance under a stream of 60 orders through the gateway:
#      SIGTERM while the second instance serves, then starts it again; counts failed orders
#      (it should be 0) and exits non-zero if any failed.
# Logs go to a temporary directory, printed at the start and kept. On exit, Ctrl-C included,
# it stops exactly the processes it started, by PID.
#
# Needs nats-server (`apt-get install nats-server`, unless MICRO_NATS_URL is set) and curl.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
logs=$(mktemp -d "${TMPDIR:-/tmp}/micro-shop.XXXXXX")
echo "logs: $logs"

pids=()
cleanup() {
    local status=$?
    # Newest first: the gateway and services before the server they talk through.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits up to 10 s for a line matching $2 in file $1 and prints the first match.
wait_for_line() {
    for _ in $(seq 100); do
        if grep -m1 -oE "$2" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "timed out waiting for /$2/ in $1:" >&2
    cat "$1" >&2
    return 1
}

echo "== building"
cargo build -q -p examples --example shop_service
cargo build -q -p micro-cli
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

if [[ -z "${MICRO_NATS_URL:-}" ]]; then
    # Port -1: the server picks a free one and logs it.
    nats-server -a 127.0.0.1 -p -1 >"$logs/nats-server.log" 2>&1 &
    pids+=($!)
    port=$(wait_for_line "$logs/nats-server.log" 'client connections on 127\.0\.0\.1:[0-9]+' |
        grep -oE '[0-9]+$')
    export MICRO_NATS_URL="nats://127.0.0.1:$port"
fi
echo "== NATS at $MICRO_NATS_URL"
export NO_COLOR=1

# Starts `shop_service <part>` with its log in $logs/<name>.log; sets `started` to its PID.
start_service() {
    local part=$1 name=$2
    "$bin/examples/shop_service" "$part" >"$logs/$name.log" 2>&1 &
    started=$!
    pids+=("$started")
    wait_for_line "$logs/$name.log" 'serving' >/dev/null
    echo "   $name: PID $started"
}

echo "== starting the services, one process each"
start_service inventory inventory
start_service notifications notifications
start_service payments payments-1
payments_1=$started
start_service payments payments-2
start_service orders orders

"$bin/micro" api --addr 127.0.0.1:0 --no-ui >"$logs/gateway.log" 2>&1 &
pids+=($!)
api=$(wait_for_line "$logs/gateway.log" 'http://127\.0\.0\.1:[0-9]+')
echo "== gateway at $api"
"$bin/micro" services

# POSTs $2 to $api/$1 as ada, with request id $3; prints the HTTP status and the body.
call() {
    curl -sS -o "$logs/reply.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H 'X-Micro-X-User: ada' \
        -H "X-Micro-X-Request-Id: $3" -d "$2" "$api/$1" >"$logs/status"
    echo "   -> HTTP $(cat "$logs/status"): $(cat "$logs/reply.json")"
}

echo
echo "== stock of widgets"
call shop-inventory/stock '{"sku":"widget"}' req-1
echo "== ada orders 2 widgets (X-Micro-X-Request-Id: req-2 reaches inventory and payments)"
call shop-orders/place '{"sku":"widget","qty":2}' req-2
echo "== ada orders a sold-out gizmo: inventory's 409 crosses orders and the gateway"
call shop-orders/place '{"sku":"gizmo","qty":1}' req-3
echo "== ada orders 5 gadgets (600.00): payments declines with 402, the stock is released"
call shop-orders/place '{"sku":"gadget","qty":5}' req-4
call shop-inventory/stock '{"sku":"gadget"}' req-5
echo "== a 10 ms deadline, shorter than a charge takes: 408"
"$bin/micro" call --timeout 10ms -H x-user=ada shop-orders place '{"sku":"widget","qty":1}' ||
    true
echo "== what notifications sent (from the shop.order.placed event)"
call shop-notifications/sent '{}' req-6
echo "== the request id in every service's log"
grep -h 'req-2' "$logs"/{orders,inventory,payments-1,payments-2,notifications}.log |
    sed 's/^/   /'

echo
echo "== restarting payments-1 (SIGTERM, then started again) under 60 orders; payments-2 serves"
: >"$logs/results"
order_stream() {
    for i in $(seq 15); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
            -H 'X-Micro-X-User: ada' -H "X-Micro-X-Request-Id: load-$1-$i" \
            -d '{"sku":"widget","qty":1}' "$api/shop-orders/place" || echo curl-failed)
        echo "$code" >>"$logs/results"
    done
}
streams=()
for s in 1 2 3 4; do
    order_stream "$s" &
    streams+=($!)
done
# Stop the instance once the stream is under way.
for _ in $(seq 100); do
    (($(wc -l <"$logs/results") >= 10)) && break
    sleep 0.05
done
kill -TERM "$payments_1"
wait "$payments_1" || true
echo "   payments-1 stopped after draining; $(wc -l <"$logs/results") orders answered so far"
start_service payments payments-1b
for pid in "${streams[@]}"; do
    wait "$pid"
done
total=$(wc -l <"$logs/results")
failed=$(grep -vc '^200$' "$logs/results" || true)
echo "   $total orders, $failed failed"
for name in payments-1 payments-2 payments-1b; do
    echo "   $name charged $(grep -c 'charged.*load-' "$logs/$name.log" || true) of them"
done
if ((failed > 0)); then
    echo "some orders failed during the restart:" >&2
    sort "$logs/results" | uniq -c >&2
    exit 1
fi
echo "== done; stopping what this script started"
