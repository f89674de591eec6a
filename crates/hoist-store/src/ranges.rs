//! Byte-range bookkeeping for ranged downloads: which bytes of a blob are on
//! disk, which are missing, and where an idle worker splits a busy worker's
//! remainder.

use std::ops::Range;

/// Sorted, non-overlapping, non-adjacent, non-empty byte ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// The union of `ranges`, in any order, overlapping or not.
    pub(crate) fn from_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> RangeSet {
        let mut set = RangeSet::default();
        for range in ranges {
            set.insert(range);
        }
        set
    }

    /// Adds a range, merging it with any it overlaps or touches.
    pub(crate) fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        // The first range that ends at or after the new start, and the first that
        // starts after the new end: everything between merges into one.
        let first = self.ranges.partition_point(|r| r.end < range.start);
        let last = self.ranges.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if first < last {
            merged.start = merged.start.min(self.ranges[first].start);
            merged.end = merged.end.max(self.ranges[last - 1].end);
        }
        self.ranges.splice(first..last, [merged]);
    }

    pub(crate) fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Bytes covered.
    pub(crate) fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Where the contiguous run of bytes from offset 0 ends (0 if byte 0 is missing).
    pub(crate) fn prefix_end(&self) -> u64 {
        self.ranges.first().filter(|r| r.start == 0).map_or(0, |r| r.end)
    }

    /// The ranges of `0..size` not covered, in order.
    pub(crate) fn missing(&self, size: u64) -> Vec<Range<u64>> {
        let mut missing = Vec::new();
        let mut at = 0;
        for range in &self.ranges {
            if range.start >= size {
                break;
            }
            if range.start > at {
                missing.push(at..range.start);
            }
            at = at.max(range.end);
        }
        if at < size {
            missing.push(at..size);
        }
        missing
    }
}

/// Where to split a busy part whose bytes `position..end` are still to come, so
/// an idle worker can take the second half: `None` when fewer than `min_remainder`
/// bytes remain (splitting would cost a request for too little).
pub(crate) fn split_point(position: u64, end: u64, min_remainder: u64) -> Option<u64> {
    let remainder = end.checked_sub(position)?;
    (remainder >= min_remainder.max(2)).then(|| position + remainder / 2)
}

#[cfg(test)]
// One-element lists of ranges are what these tests mean, not a mistaken `vec![a..b]`.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_overlapping_and_touching_ranges() {
        let mut set = RangeSet::default();
        set.insert(10..20);
        set.insert(30..40);
        assert_eq!(set.ranges(), [10..20, 30..40]);
        set.insert(20..25); // touches the first
        assert_eq!(set.ranges(), [10..25, 30..40]);
        set.insert(5..8);
        set.insert(50..60);
        assert_eq!(set.ranges(), [5..8, 10..25, 30..40, 50..60]);
        set.insert(7..55); // swallows three, overlaps two
        assert_eq!(set.ranges(), [5..60]);
        set.insert(3..3); // empty: nothing
        assert_eq!(set.ranges(), [5..60]);
        set.insert(0..5);
        assert_eq!(set.ranges(), [0..60]);
        assert_eq!(set.total(), 60);
        assert_eq!(set.prefix_end(), 60);
    }

    #[test]
    fn from_ranges_normalises_any_order() {
        let set = RangeSet::from_ranges([40..50, 0..10, 5..12, 12..13, 45..47, 20..20]);
        assert_eq!(set.ranges(), [0..13, 40..50]);
        assert_eq!(set.total(), 23);
        assert_eq!(set.prefix_end(), 13);
        assert_eq!(RangeSet::from_ranges([3..9]).prefix_end(), 0);
    }

    #[test]
    fn missing_ranges_are_the_complement_within_the_size() {
        let set = RangeSet::from_ranges([10..20, 30..40]);
        assert_eq!(set.missing(50), [0..10, 20..30, 40..50]);
        assert_eq!(set.missing(35), [0..10, 20..30]);
        assert_eq!(set.missing(15), [0..10]);
        assert_eq!(RangeSet::default().missing(7), [0..7]);
        assert!(RangeSet::from_ranges([0..7]).missing(7).is_empty());
        assert!(RangeSet::default().missing(0).is_empty());
    }

    #[test]
    fn split_takes_the_second_half_of_a_large_remainder() {
        assert_eq!(split_point(100, 200, 50), Some(150));
        assert_eq!(split_point(100, 149, 50), None);
        assert_eq!(split_point(100, 150, 50), Some(125));
        assert_eq!(split_point(200, 100, 1), None, "a finished part");
        assert_eq!(split_point(0, 1, 0), None, "one byte cannot be split");
    }
}
