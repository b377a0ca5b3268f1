//! NATS backend of micro (transport, broker and registry over NATS). Work in progress.
