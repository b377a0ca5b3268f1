//! Doc comments reach the descriptor, and `#[micro(name)]` renames an endpoint.

#![deny(warnings, missing_docs)]

use micro_core::prelude::*;

/// Stores users.
///
/// Second paragraph, with `code`.
#[service(name = "users", version = "3.1.4")]
pub trait UserStore {
    /// Gets a user.
    ///
    /// Fails with 404 when there is none.
    async fn get(&self, id: u64) -> Result<String, Error>;

    // Undocumented: the generated client method gets a doc comment of its own.
    #[allow(missing_docs)]
    #[micro(name = "remove-user")]
    async fn remove(&self, id: u64) -> Result<(), Error>;

    /// Renamed, with docs.
    #[micro(name = "new")]
    async fn create(&self, name: String) -> Result<u64, Error>;
}

fn main() {
    let d = UserStoreClient::DESCRIPTOR;
    assert_eq!(d.name, "users");
    assert_eq!(d.version, "3.1.4");
    assert_eq!(d.description, "Stores users.\n\nSecond paragraph, with `code`.");
    let get = d.endpoint("get").expect("get");
    assert_eq!(get.doc, "Gets a user.\n\nFails with 404 when there is none.");
    let remove = d.endpoint("remove-user").expect("remove-user");
    assert_eq!((remove.method, remove.doc), ("remove", ""));
    let create = d.endpoint("new").expect("new");
    assert_eq!((create.method, create.doc), ("create", "Renamed, with docs."));
    assert_eq!(create.request[0].ty, "String");
    assert_eq!(create.response, "u64");
}
