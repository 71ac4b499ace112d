//! Keyset paging of lists read newest (or first) first: a page is read with one item more
//! than it shows, and that extra item tells that a next page exists. The next page starts
//! after the key of the last item shown.

/// Cuts `found` (read with `limit + 1` items at most) to `limit` items and answers the key
/// of the last one kept when more follow, else `None`.
pub fn next_key<T, K>(found: &mut Vec<T>, limit: u32, key: impl FnOnce(&T) -> K) -> Option<K> {
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    if more {
        found.last().map(key)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_item_means_a_next_page_after_the_last_kept() {
        let mut found = vec![9, 8, 7];
        assert_eq!(next_key(&mut found, 2, |n| *n), Some(8));
        assert_eq!(found, vec![9, 8]);
    }

    #[test]
    fn a_short_or_exact_read_is_the_last_page() {
        let mut exact = vec![9, 8];
        assert_eq!(next_key(&mut exact, 2, |n| *n), None);
        assert_eq!(exact, vec![9, 8]);
        let mut empty: Vec<i64> = Vec::new();
        assert_eq!(next_key(&mut empty, 2, |n| *n), None);
    }
}
