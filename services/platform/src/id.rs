//! Typed ids: a lead's id, a person's and a plan's are all text on the
//! wire and in the database, but not interchangeable in the code. Each
//! service names its kinds of id once, in its `domain::ids`, with
//! [`id_kinds!`](crate::id_kinds) (`Lead => LeadId, "lead";` makes the
//! kind `Lead` and `pub type LeadId = Id<Lead>;`), and a function that
//! takes a `&LeadId` cannot be handed a person's id or a raw string by
//! mistake.
//!
//! An [`Id`] is made at the edge: parsed from a request by the service's own
//! rule for that kind (an employee number's characters, say) or, where any
//! text may name it, [`Id::required`] (trimmed, not empty), read from a
//! row (sqlx decodes it as TEXT on both backends, as `String`), or minted
//! with [`Id::mint`] (a UUIDv7, ordered by creation). Its text comes back
//! out with [`Id::as_str`], [`Display`](std::fmt::Display) or
//! `String::from`, for an answer, a log field or an event. An id that names
//! nothing is [`Error::missing`](crate::Error::missing): NOT_FOUND under its
//! kind's [`Kind::NAME`], so the resource cannot be misnamed.

use std::{borrow::Borrow, fmt, hash, marker::PhantomData};

use sqlx::{Database, Decode, Encode, Type, encode::IsNull, error::BoxDynError};

/// What an [`Id`] identifies.
pub trait Kind {
    /// The resource's name in errors and logs (`lead`, `person`).
    const NAME: &'static str;
}

/// Declares kinds of id: `Lead => LeadId, "lead";` is the uninhabited
/// kind `Lead`, its [`Kind::NAME`], and `pub type LeadId = Id<Lead>`.
///
/// ```
/// tiejun_platform::id_kinds! {
///     /// A lead.
///     Lead => LeadId, "lead";
///     /// A person.
///     Person => PersonId, "person";
/// }
/// fn lead_name(id: &LeadId) -> String {
///     format!("lead {id}")
/// }
/// assert_eq!(lead_name(&LeadId::from("L-1")), "lead L-1");
/// // A typed id names its resource in NOT_FOUND by its kind.
/// let missing = tiejun_platform::Error::missing(&LeadId::from("L-9"));
/// assert_eq!(missing.to_string(), "lead not found: L-9");
/// ```
///
/// A person's id, or text, is not a lead's:
///
/// ```compile_fail
/// tiejun_platform::id_kinds! {
///     Lead => LeadId, "lead";
///     Person => PersonId, "person";
/// }
/// fn lead_name(id: &LeadId) -> String {
///     id.to_string()
/// }
/// lead_name(&PersonId::from("E-1"));
/// ```
///
/// ```compile_fail
/// tiejun_platform::id_kinds! {
///     Lead => LeadId, "lead";
/// }
/// fn lead_name(id: &LeadId) -> String {
///     id.to_string()
/// }
/// lead_name("L-1");
/// ```
#[macro_export]
macro_rules! id_kinds {
    ($($(#[$doc:meta])* $kind:ident => $id:ident, $name:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $kind {}

        impl $crate::id::Kind for $kind {
            const NAME: &'static str = $name;
        }

        $(#[$doc])*
        pub type $id = $crate::id::Id<$kind>;
    )*};
}

/// The text of an id or key a request names in `field`, trimmed, without
/// copying it (the hot path's form of [`Id::required`]).
pub fn required<'a>(field: &str, raw: &'a str) -> Result<&'a str, crate::Error> {
    match raw.trim() {
        "" => Err(crate::Error::invalid(field, "is required")),
        text => Ok(text),
    }
}

/// The id of a `K`: its text, typed by what it names.
pub struct Id<K>(String, PhantomData<fn() -> K>);

impl<K> Id<K> {
    /// A fresh id: a UUIDv7, so ids sort by creation.
    pub fn mint() -> Self {
        Self::from(uuid::Uuid::now_v7().to_string())
    }

    /// The id a request names in `field`: trimmed; INVALID_ARGUMENT naming
    /// the field when it is empty, so a call about nothing is refused as such
    /// rather than answered NOT_FOUND.
    pub fn required(field: &str, raw: &str) -> Result<Self, crate::Error> {
        required(field, raw).map(Self::from)
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<K> From<String> for Id<K> {
    fn from(text: String) -> Self {
        Self(text, PhantomData)
    }
}

impl<K> From<&str> for Id<K> {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl<K> From<&String> for Id<K> {
    fn from(text: &String) -> Self {
        Self::from(text.clone())
    }
}

impl<K> From<Id<K>> for String {
    fn from(id: Id<K>) -> Self {
        id.0
    }
}

impl<K> From<&Id<K>> for String {
    fn from(id: &Id<K>) -> Self {
        id.0.clone()
    }
}

/// An id reads as its text wherever text is read (`&id` where a `&str` is
/// taken, `option.as_deref()`); the other way round takes a conversion, so
/// text never passes for an id unchecked.
impl<K> std::ops::Deref for Id<K> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Self::from(self.0.clone())
    }
}

impl<K> Default for Id<K> {
    fn default() -> Self {
        Self::from(String::new())
    }
}

impl<K: 'static> Id<K> {
    const EMPTY: &'static Self = &Self(String::new(), PhantomData);
}

/// The empty id, for a struct of borrowed ids that is filled in from
/// `..Default::default()`.
impl<K: 'static> Default for &Id<K> {
    fn default() -> Self {
        Id::EMPTY
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K> Eq for Id<K> {}

impl<K> PartialEq<str> for Id<K> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl<K> PartialEq<&str> for Id<K> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<K> PartialEq<String> for Id<K> {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl<K> PartialEq<Id<K>> for str {
    fn eq(&self, other: &Id<K>) -> bool {
        *self == other.0
    }
}

impl<K> PartialEq<Id<K>> for &str {
    fn eq(&self, other: &Id<K>) -> bool {
        **self == other.0
    }
}

impl<K> PartialEq<Id<K>> for String {
    fn eq(&self, other: &Id<K>) -> bool {
        *self == other.0
    }
}

impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl<K> hash::Hash for Id<K> {
    fn hash<H: hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// A set or map of ids can be looked up by text (the hash is the text's).
impl<K> Borrow<str> for Id<K> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<K> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<K> serde::Serialize for Id<K> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de, K> serde::Deserialize<'de> for Id<K> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// TEXT on every backend, as `String`.
impl<K, DB: Database> Type<DB> for Id<K>
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, K, DB: Database> Decode<'r, DB> for Id<K>
where
    String: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        <String as Decode<DB>>::decode(value).map(Self::from)
    }
}

impl<'q, K, DB: Database> Encode<'q, DB> for Id<K>
where
    String: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, DB>>::encode_by_ref(&self.0, buf)
    }

    fn size_hint(&self) -> usize {
        <String as Encode<'q, DB>>::size_hint(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    enum Lead {}
    impl Kind for Lead {
        const NAME: &'static str = "lead";
    }

    #[test]
    fn an_id_is_its_text() {
        let id: Id<Lead> = Id::from("L-1");
        assert_eq!(id.as_str(), "L-1");
        assert_eq!(id.to_string(), "L-1");
        assert_eq!(format!("{id:?}"), "\"L-1\"");
        assert_eq!(String::from(id.clone()), "L-1");
        assert_eq!(serde_json::to_string(&id).expect("serialises"), "\"L-1\"");
        let back: Id<Lead> = serde_json::from_str("\"L-1\"").expect("deserialises");
        assert_eq!(back, id);
        let set: HashSet<Id<Lead>> = [id].into_iter().collect();
        assert!(set.contains("L-1"), "looked up by its text");
    }

    #[test]
    fn a_missing_id_is_not_found_under_its_kind() {
        let err = crate::Error::missing(&Id::<Lead>::from("L-9"));
        assert!(
            matches!(&err, crate::Error::NotFound { resource: "lead", id } if id == "L-9"),
            "{err:?}"
        );
    }

    #[test]
    fn minted_ids_are_distinct_and_ordered_by_creation() {
        let a: Id<Lead> = Id::mint();
        let b: Id<Lead> = Id::mint();
        assert_ne!(a, b);
        assert!(a < b, "{a} minted before {b}");
    }

    #[tokio::test]
    async fn an_id_round_trips_through_sqlite_as_text() {
        let db = sqlx::SqlitePool::connect("sqlite::memory:")
            .await
            .expect("memory database");
        let id: Id<Lead> = Id::from("L-7");
        let (back, kind): (Id<Lead>, String) = sqlx::query_as("SELECT ?1, typeof(?1)")
            .bind(&id)
            .fetch_one(&db)
            .await
            .expect("selects");
        assert_eq!(back, id);
        assert_eq!(kind, "text");
    }
}
