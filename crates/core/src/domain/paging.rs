//! `?offset=&limit=` paging of lists (SPEC 6): default 50, at most 500; and keyset paging
//! (`?after=` / `?before=`, issue 21) for the lists that grow to millions of rows.

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

/// Where a keyset page starts. Keys are the list's order column (`rowid` or `seq`), shown to
/// clients only inside the `next` and `prev` links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Skip this many rows (what clients already send; cost grows with the offset).
    Offset(u32),
    /// The rows that come after the row of this key, in the list's order.
    After(i64),
    /// The rows that come before the row of this key, in the list's order.
    Before(i64),
}

/// A page of a list paged by key: however deep, a page costs the same (an index seek), and rows
/// added or removed meanwhile neither repeat nor skip rows on the way through `next` links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub start: Start,
    pub limit: u32,
}

/// A page cut from the rows read for a [`Cursor`], with the cursors of its neighbours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// In the list's order.
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    pub prev: Option<Cursor>,
}

impl Cursor {
    /// Check a client's paging parameters: at most one of `offset`, `after` and `before`.
    pub fn new(
        offset: Option<u32>,
        after: Option<i64>,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Self, String> {
        let page = Page::new(offset, limit)?;
        let start = match (offset, after, before) {
            (_, None, None) => Start::Offset(page.offset),
            (None, Some(k), None) => Start::After(k),
            (None, None, Some(k)) => Start::Before(k),
            _ => return Err("give at most one of offset, after and before".to_owned()),
        };
        Ok(Self {
            start,
            limit: page.limit,
        })
    }

    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self {
            start: Start::Offset(0),
            limit,
        }
    }

    /// How many rows to read: one more than the page, to learn whether more follow.
    pub fn fetch(self) -> u32 {
        self.limit.saturating_add(1)
    }

    /// Whether the rows are read against the list's order (a `before` page: the rows nearest
    /// its key first), and must be turned around.
    pub fn reversed(self) -> bool {
        matches!(self.start, Start::Before(_))
    }

    /// Cut the page from `rows` (key, item), as read: at most [`Self::fetch`] of them, in the
    /// list's order, or against it when [`Self::reversed`].
    pub fn cut<T>(self, mut rows: Vec<(i64, T)>) -> Paged<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        if self.reversed() {
            rows.reverse();
        }
        let (next_exists, prev_exists) = match self.start {
            Start::Offset(offset) => (more, offset > 0),
            // The row of the key came before (or after) this page when its link was made.
            Start::After(_) => (more, true),
            Start::Before(_) => (true, more),
        };
        let at = |start| Cursor {
            start,
            limit: self.limit,
        };
        let (next, prev) = match (rows.first(), rows.last()) {
            (Some((first, _)), Some((last, _))) => (
                next_exists.then(|| at(Start::After(*last))),
                prev_exists.then(|| at(Start::Before(*first))),
            ),
            // An empty page past either end: its only neighbour is the first page.
            _ => (
                None,
                (self.start != Start::Offset(0)).then(|| Self::first(self.limit)),
            ),
        };
        Paged {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next,
            prev,
        }
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

    fn keys(cursor: Cursor, keys: &[i64]) -> Paged<i64> {
        cursor.cut(keys.iter().map(|k| (*k, *k)).collect())
    }

    fn at(start: Start) -> Cursor {
        Cursor { start, limit: 3 }
    }

    #[test]
    fn cursor_parameters() {
        assert_eq!(Cursor::new(None, None, None, None), Ok(Cursor::first(50)));
        assert_eq!(
            Cursor::new(Some(7), None, None, Some(3)),
            Ok(at(Start::Offset(7)))
        );
        assert_eq!(
            Cursor::new(None, Some(9), None, Some(3)),
            Ok(at(Start::After(9)))
        );
        assert_eq!(
            Cursor::new(None, None, Some(9), Some(3)),
            Ok(at(Start::Before(9)))
        );
        for (o, a, b) in [
            (Some(1), Some(2), None),
            (Some(1), None, Some(2)),
            (None, Some(1), Some(2)),
        ] {
            assert!(
                Cursor::new(o, a, b, None)
                    .unwrap_err()
                    .contains("at most one")
            );
        }
        assert!(Cursor::new(None, Some(1), None, Some(501)).is_err());
        assert_eq!(at(Start::Offset(0)).fetch(), 4);
    }

    #[test]
    fn a_first_page_links_on_when_more_follow() {
        let p = keys(at(Start::Offset(0)), &[10, 9, 8, 7]);
        assert_eq!(p.items, vec![10, 9, 8]);
        assert_eq!(p.next, Some(at(Start::After(8))));
        assert_eq!(p.prev, None);
        let p = keys(at(Start::Offset(0)), &[10, 9, 8]);
        assert_eq!((p.next, p.prev), (None, None));
    }

    #[test]
    fn an_offset_page_links_back_by_key() {
        let p = keys(at(Start::Offset(3)), &[7, 6]);
        assert_eq!(p.items, vec![7, 6]);
        assert_eq!(p.next, None);
        assert_eq!(p.prev, Some(at(Start::Before(7))));
    }

    #[test]
    fn an_after_page_links_both_ways() {
        let p = keys(at(Start::After(8)), &[7, 6, 5, 4]);
        assert_eq!(p.items, vec![7, 6, 5]);
        assert_eq!(p.next, Some(at(Start::After(5))));
        assert_eq!(p.prev, Some(at(Start::Before(7))));
        let p = keys(at(Start::After(5)), &[4]);
        assert_eq!((p.next, p.prev), (None, Some(at(Start::Before(4)))));
    }

    #[test]
    fn a_before_page_is_read_backwards_and_turned_around() {
        // Rows nearest the key first, as a reversed read gives them.
        let p = keys(at(Start::Before(7)), &[8, 9, 10, 11]);
        assert_eq!(p.items, vec![10, 9, 8]);
        assert_eq!(p.next, Some(at(Start::After(8))));
        assert_eq!(p.prev, Some(at(Start::Before(10))));
        let p = keys(at(Start::Before(9)), &[10, 11]);
        assert_eq!(p.items, vec![11, 10]);
        assert_eq!((p.next, p.prev), (Some(at(Start::After(10))), None));
    }

    #[test]
    fn an_empty_page_past_an_end_links_to_the_first() {
        for start in [Start::After(1), Start::Before(99), Start::Offset(40)] {
            let p = keys(at(start), &[]);
            assert!(p.items.is_empty());
            assert_eq!(
                (p.next, p.prev),
                (None, Some(at(Start::Offset(0)))),
                "{start:?}"
            );
        }
        let p = keys(at(Start::Offset(0)), &[]);
        assert_eq!((p.next, p.prev), (None, None));
    }
}
