//! Values given to a service at start for the implementations it builds by itself.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::Error;

/// Shared values, one per type, that registered `#[service]` impls and `#[subscriber]` fns are
/// built from: `Service::from_env().state(pool)` gives a `Pool` to every
/// `#[service(state = "Pool")]` impl (`From<Pool>` builds it) and to every subscriber that
/// takes a `Pool` after its event.
///
/// ```
/// use micro_core::service::State;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Db(&'static str);
///
/// let state = State::new().with(Db("postgres://localhost/shop"));
/// assert_eq!(state.get::<Db>(), Some(Db("postgres://localhost/shop")));
/// assert_eq!(state.get::<u32>(), None);
/// ```
#[derive(Clone, Default)]
pub struct State {
    values: HashMap<TypeId, (&'static str, Arc<dyn Any + Send + Sync>)>,
}

impl State {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value`, replacing the one of the same type given before.
    #[must_use]
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.insert(value);
        self
    }

    /// Adds `value`, replacing the one of the same type given before.
    pub fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.values
            .insert(TypeId::of::<T>(), (type_name::<T>(), Arc::new(value)));
    }

    /// A clone of the value of type `T`, if one was given.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref::<T>())
            .cloned()
    }

    /// The value of type `T` that `who` needs, or an error saying how to give it.
    pub fn require<T: Clone + 'static>(&self, who: &str) -> Result<T, Error> {
        self.get::<T>().ok_or_else(|| {
            let wanted = type_name::<T>();
            let given: Vec<&str> = self.values.values().map(|(name, _)| *name).collect();
            Error::bad_request(format!(
                "{who} is built from a `{wanted}`, and none was given: start the service with \
                 `Service::from_env().state(value)` (state given: {})",
                if given.is_empty() {
                    "none".to_owned()
                } else {
                    given.join(", ")
                }
            ))
        })
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.values.values().map(|(name, _)| name))
            .finish()
    }
}
