//! Columns that hold a proto enum by its stored name
//! ([`tiejun_proto::stored::Stored`]): a row field of type [`Named<T>`]
//! (or `Option<Named<T>>` for a nullable column) is decoded by sqlx on
//! both backends, and a stored name that names no value fails the row's
//! decoding, naming the column and the value: a corrupt row is reported
//! (INTERNAL, logged with the trace id), never read as UNSPECIFIED.

use sqlx::{Database, Decode, Encode, Type, encode::IsNull, error::BoxDynError};
pub use tiejun_proto::stored::Stored;

/// A stored name that names no value: the row is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt row: {0}")]
pub struct Corrupt(pub String);

/// `stored` as a `T`, or [`Corrupt`].
pub fn parse<T: Stored>(stored: &str) -> Result<T, Corrupt> {
    T::from_stored(stored).ok_or_else(|| Corrupt(format!("{stored:?} is not a stored {}", T::kind())))
}

/// A list request's filter on a proto enum: UNSPECIFIED filters nothing
/// (`""`), any other value is its stored name, and a number that names no
/// value is INVALID_ARGUMENT on `field`.
pub fn filter<T>(field: &str, value: i32) -> Result<&'static str, crate::error::Error>
where
    T: Stored + TryFrom<i32> + PartialEq + Default,
{
    match T::try_from(value) {
        Ok(v) if v == T::default() => Ok(""),
        Ok(v) => Ok(v.stored()),
        Err(_) => Err(crate::error::Error::invalid(field, "names no value of the enum")),
    }
}

/// A column holding a [`Stored`] enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Named<T>(pub T);

impl<T: PartialEq> PartialEq<T> for Named<T> {
    fn eq(&self, other: &T) -> bool {
        self.0 == *other
    }
}

impl<T: Stored> std::fmt::Display for Named<T> {
    /// The stored name (`ACTIVE`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.stored())
    }
}

impl<T> From<T> for Named<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

/// Both column types are TEXT on every backend.
macro_rules! text_column {
    ($($column:ident),*) => {$(
        impl<T: Stored, DB: Database> Type<DB> for $column<T>
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }
    )*};
}

text_column!(Named, NamedList);

impl<'r, T: Stored, DB: Database> Decode<'r, DB> for Named<T>
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let stored = <&str as Decode<DB>>::decode(value)?;
        Ok(Self(parse(stored)?))
    }
}

impl<'q, T: Stored, DB: Database> Encode<'q, DB> for Named<T>
where
    &'static str: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&'static str as Encode<'q, DB>>::encode(self.0.stored(), buf)
    }
}

/// A column holding a list of [`Stored`] enums as their stored names
/// joined by commas (`CULTURE_VALUES,PRODUCT_KNOWLEDGE`); a name that names
/// no value fails the row's decoding, as for [`Named`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedList<T>(pub Vec<T>);

impl<T: Stored> NamedList<T> {
    /// The stored text.
    pub fn text(&self) -> String {
        self.0.iter().map(|v| v.stored()).collect::<Vec<_>>().join(",")
    }

    /// The list a stored text holds.
    pub fn parse(text: &str) -> Result<Self, Corrupt> {
        text.split(',')
            .filter(|t| !t.is_empty())
            .map(parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl<'r, T: Stored, DB: Database> Decode<'r, DB> for NamedList<T>
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::parse(<&str as Decode<DB>>::decode(value)?)?)
    }
}

#[cfg(test)]
mod tests {
    use tiejun_proto::{billing::v1::InvoiceStatus, leads::v1::RepStatus};

    use super::*;

    #[test]
    fn a_name_that_names_nothing_is_corrupt_not_unspecified() {
        assert_eq!(parse::<RepStatus>("ON_LEAVE"), Ok(RepStatus::OnLeave));
        let err = parse::<InvoiceStatus>("SETTLED").expect_err("no such status");
        assert_eq!(
            err.to_string(),
            "corrupt row: \"SETTLED\" is not a stored INVOICE_STATUS"
        );
        assert!(parse::<RepStatus>("active").is_err());
    }

    #[test]
    fn a_list_round_trips_and_a_stranger_in_it_is_corrupt() {
        let list = NamedList(vec![InvoiceStatus::Open, InvoiceStatus::Paid]);
        assert_eq!(list.text(), "OPEN,PAID");
        assert_eq!(NamedList::<InvoiceStatus>::parse("OPEN,PAID"), Ok(list));
        assert_eq!(NamedList::<InvoiceStatus>::parse(""), Ok(NamedList(vec![])));
        assert!(NamedList::<InvoiceStatus>::parse("OPEN,SETTLED").is_err());
    }

    #[test]
    fn a_filter_is_nothing_a_stored_name_or_refused() {
        assert_eq!(filter::<InvoiceStatus>("status", 0).ok(), Some(""));
        assert_eq!(
            filter::<InvoiceStatus>("status", InvoiceStatus::Paid as i32).ok(),
            Some("PAID")
        );
        assert!(filter::<InvoiceStatus>("status", 99).is_err());
    }
}
