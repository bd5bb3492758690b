//! `?offset=&limit=` paging of lists (SPEC 6): default 50, at most 500.

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;
/// The largest offset: a 32-bit signed integer's, as the OpenAPI document gives `offset`
/// (clients in C# and Java read it as `int`).
pub const MAX_OFFSET: u32 = i32::MAX as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u32,
    pub limit: u32,
}

impl Page {
    /// Check a client's paging parameters. Out-of-range values are refused, not clamped, so a
    /// script that asks for 1000 rows learns that it gets at most 500.
    pub fn new(offset: Option<u32>, limit: Option<u32>) -> Result<Self, String> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {limit}"
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(format!(
                "offset must be between 0 and {MAX_OFFSET}, not {offset}"
            ));
        }
        Ok(Self { offset, limit })
    }

    /// The page after this one, if the list has more rows.
    pub fn next(self, total: u64) -> Option<Page> {
        let next = u64::from(self.offset) + u64::from(self.limit);
        (next < total).then(|| Page {
            offset: u32::try_from(next).unwrap_or(u32::MAX),
            limit: self.limit,
        })
    }

    /// The page before this one, if this is not the first.
    pub fn prev(self) -> Option<Page> {
        (self.offset > 0).then(|| Page {
            offset: self.offset.saturating_sub(self.limit),
            limit: self.limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            Page::new(None, None),
            Ok(Page {
                offset: 0,
                limit: 50
            })
        );
        assert_eq!(
            Page::new(Some(10), Some(500)),
            Ok(Page {
                offset: 10,
                limit: 500
            })
        );
        assert!(Page::new(None, Some(0)).is_err());
        assert_eq!(
            Page::new(Some(MAX_OFFSET), None).map(|p| p.offset),
            Ok(2_147_483_647)
        );
        assert!(
            Page::new(Some(MAX_OFFSET + 1), None)
                .unwrap_err()
                .contains("offset must be between 0 and 2147483647")
        );
        assert!(
            Page::new(None, Some(501))
                .unwrap_err()
                .contains("between 1 and 500")
        );
    }

    #[test]
    fn next_and_prev() {
        let p = Page {
            offset: 0,
            limit: 50,
        };
        assert_eq!(
            p.next(120),
            Some(Page {
                offset: 50,
                limit: 50
            })
        );
        assert_eq!(p.next(50), None);
        assert_eq!(p.prev(), None);
        let p = Page {
            offset: 30,
            limit: 50,
        };
        assert_eq!(
            p.prev(),
            Some(Page {
                offset: 0,
                limit: 50
            })
        );
        let p = Page {
            offset: u32::MAX,
            limit: 500,
        };
        assert_eq!(
            p.next(u64::MAX),
            Some(Page {
                offset: u32::MAX,
                limit: 500
            })
        );
    }
}
