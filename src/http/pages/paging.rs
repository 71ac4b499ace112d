//! Long lists on pages (members, sessions) split into numbered pages (`?page=N`, from 1),
//! so that every page stays well under 50 KB however long the list grows.
//!
//! Invariant: the page number shown is always within `1..=pages`; a missing, unreadable
//! or out-of-range `?page=` shows the nearest page.

use serde::Deserialize;

/// `?page=N` and `?done=…`, as the list pages take them.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    done: Option<String>,
}

impl ListQuery {
    /// The page asked for (1 when absent or unreadable).
    pub fn page(&self) -> usize {
        self.page
            .as_deref()
            .and_then(|text| text.parse().ok())
            .unwrap_or(1)
    }

    /// What the previous form did, when it says.
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

/// Where a page is in its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// This page, from 1.
    pub page: usize,
    /// How many pages (at least 1).
    pub pages: usize,
    /// Items in the whole list.
    pub total: usize,
}

impl Paging {
    /// The previous page, if any.
    pub fn previous(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    /// The next page, if any.
    pub fn next(&self) -> Option<usize> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

/// Page `page` of `items`, `per_page` at a time.
pub fn page_of<T>(items: Vec<T>, page: usize, per_page: usize) -> (Vec<T>, Paging) {
    let per_page = per_page.max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let shown = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    (shown, Paging { page, pages, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_cut_into_pages_and_odd_numbers_show_the_nearest() {
        let items: Vec<u32> = (1..=45).collect();
        let (first, paging) = page_of(items.clone(), 1, 20);
        assert_eq!(first, (1..=20).collect::<Vec<_>>());
        assert_eq!((paging.previous(), paging.next()), (None, Some(2)));
        let (last, paging) = page_of(items.clone(), 3, 20);
        assert_eq!(last, (41..=45).collect::<Vec<_>>());
        assert_eq!(
            paging,
            Paging {
                page: 3,
                pages: 3,
                total: 45
            }
        );
        assert_eq!((paging.previous(), paging.next()), (Some(2), None));
        assert_eq!(page_of(items.clone(), 99, 20).1.page, 3);
        assert_eq!(page_of(items, 0, 20).1.page, 1);
        let (none, paging) = page_of(Vec::<u32>::new(), 2, 20);
        assert!(none.is_empty());
        assert_eq!((paging.page, paging.pages, paging.total), (1, 1, 0));
    }

    #[test]
    fn an_unreadable_page_number_is_the_first_page() {
        let query: ListQuery = serde_urlencoded::from_str("page=abc&done=x").unwrap();
        assert_eq!((query.page(), query.done()), (1, Some("x")));
        let query: ListQuery = serde_urlencoded::from_str("page=4").unwrap();
        assert_eq!((query.page(), query.done()), (4, None));
    }
}
