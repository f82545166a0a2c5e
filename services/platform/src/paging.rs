//! List pagination (DESIGN §3): `page_size` default 50, at most 500 (larger
//! values are lowered to 500), and an opaque `page_token`.

use crate::error::Error;

/// The default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page size.
pub const MAX_PAGE_SIZE: u32 = 500;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub size: u32,
    /// Rows to skip.
    pub offset: u64,
}

impl Page {
    /// From a request's `page_size` and `page_token`.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, Error> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            n => (n as u32).min(MAX_PAGE_SIZE),
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            hex::decode(page_token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
                .ok_or_else(|| Error::invalid("page_token", "not a token from a previous response"))?
        };
        Ok(Self { size, offset })
    }

    /// `LIMIT` for a query that fetches one extra row to know if more remain.
    pub fn limit_plus_one(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// `OFFSET`.
    pub fn offset(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }

    /// Trims the extra row and returns the next page's token ("" on the last page).
    pub fn finish<T>(&self, rows: &mut Vec<T>) -> String {
        if rows.len() > self.size as usize {
            rows.truncate(self.size as usize);
            hex::encode(format!("o:{}", self.offset + u64::from(self.size)))
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_caps_and_round_trips() {
        assert_eq!(Page::parse(0, "").expect("ok").size, 50);
        assert_eq!(Page::parse(10_000, "").expect("ok").size, 500);
        assert!(Page::parse(-1, "").is_err());
        assert!(Page::parse(10, "garbage").is_err());
        let page = Page::parse(2, "").expect("ok");
        let mut rows = vec![1, 2, 3];
        let token = page.finish(&mut rows);
        assert_eq!(rows, [1, 2]);
        assert_eq!(Page::parse(2, &token).expect("ok").offset, 2);
        assert_eq!(page.finish(&mut vec![1]), "");
    }
}
