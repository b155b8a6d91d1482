//! Names with rules: parse once, trust afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused. The message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be a plain file name: no '/', not '.' or '..', not starting with '.'")]
    NotPlainFileName,
    #[error("must not contain whitespace or control characters")]
    BadCharacter,
    #[error("must be an integer from 1 to 100, got {0}")]
    OrderOutOfRange(i64),
}

/// A component type as named in the Topology and the Manifest (`rtos`, `gateway`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentType(String);

impl ComponentType {
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NameError::BadCharacter);
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The file name of an Interface under `<datadir>/interfaces/v1/`.
///
/// It can never escape that directory: it is a single, non-hidden path component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InterfaceName(String);

impl InterfaceName {
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.contains('/') || s.starts_with('.') || s.contains('\0') {
            return Err(NameError::NotPlainFileName);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NameError::BadCharacter);
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ID a component gives itself in answer to the `Identity` query.
///
/// It names the component's work directory, so it obeys the same rule as an Interface name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentId(String);

impl ComponentId {
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        InterfaceName::new(s.clone())?;
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `update_strategy.order`: the order group a component type belongs to, 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Order(u8);

impl Order {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 100;
    pub fn new(n: i64) -> Result<Self, NameError> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(NameError::OrderOutOfRange(n))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

macro_rules! string_newtype_impls {
    ($($t:ident),*) => {$(
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    )*};
}
string_newtype_impls!(ComponentType, InterfaceName, ComponentId);

impl TryFrom<i64> for Order {
    type Error = NameError;
    fn try_from(n: i64) -> Result<Self, NameError> {
        Self::new(n)
    }
}
impl From<Order> for i64 {
    fn from(o: Order) -> i64 {
        i64::from(o.0)
    }
}
impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_cannot_escape_their_directory() {
        for bad in [
            "", "a/b", "..", ".", ".hidden", "../x", "/abs", "a b", "x\0y",
        ] {
            assert!(InterfaceName::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["rtos-interface", "rootfs-image", "a..b", "v1_2"] {
            assert!(InterfaceName::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn order_is_one_to_one_hundred() {
        assert!(Order::new(0).is_err());
        assert!(Order::new(101).is_err());
        assert_eq!(Order::new(1).unwrap().get(), 1);
        assert_eq!(Order::new(100).unwrap().get(), 100);
    }
}
