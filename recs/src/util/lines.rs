//! A line reader whose memory is bounded by a record limit whatever the input.
//!
//! `BufRead::read_until` keeps a whole line in memory before anyone can check its length: one
//! 2 GiB line in a 2 MB gzip takes the reader to 2 GiB. [`LineReader`] copies at most `limit`
//! bytes of a line; past that it only counts bytes up to the next `\n` and reports the line as
//! [`Line::TooLong`] (with its byte offset and length), then goes on with the next line. Its
//! memory is the inner reader's buffer plus `limit` bytes. Every text input of recs (files,
//! gzip, stdin, a followed events file, the rating files of `recs::data`) reads through it;
//! ingestion dead-letters an over-long line, the data loaders refuse the file.

use std::io::{self, BufRead};

use sha2::{Digest, Sha256};

/// The default line (record) limit, 1 MiB: far above any real rating, event or metadata line
/// (the longest MovieLens line is under 200 bytes), small enough that memory stays bounded.
///
/// ```
/// assert_eq!(recs::util::MAX_LINE_BYTES, 1 << 20);
/// ```
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line from a [`LineReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line of at most `limit` bytes, without its `\n` (a `\r` before it is removed too).
    Text {
        /// Byte offset of the line's first byte in the input.
        offset: u64,
        /// The line's bytes.
        bytes: &'a [u8],
    },
    /// A line longer than `limit`: it was skipped up to its end and only its start was kept.
    TooLong {
        /// Byte offset of the line's first byte in the input.
        offset: u64,
        /// The line's full length in bytes (without `\n`).
        len: u64,
        /// Its first `limit` bytes (for a dead letter).
        prefix: &'a [u8],
    },
}

impl Line<'_> {
    /// Byte offset of the line in the input.
    pub fn offset(&self) -> u64 {
        match self {
            Line::Text { offset, .. } | Line::TooLong { offset, .. } => *offset,
        }
    }
}

/// Reads `\n`-terminated lines keeping at most `limit` bytes of any line in memory.
///
/// ```
/// use recs::stream::{Line, LineReader};
/// let input = format!("a\n{}\nb", "x".repeat(100));
/// let mut r = LineReader::new(input.as_bytes(), 10);
/// assert_eq!(r.next_line()?, Some(Line::Text { offset: 0, bytes: b"a" }));
/// match r.next_line()? {
///     Some(Line::TooLong { offset, len, prefix }) => {
///         assert_eq!((offset, len, prefix.len()), (2, 100, 10));
///     }
///     other => panic!("expected a long line, got {other:?}"),
/// }
/// assert_eq!(r.next_line()?, Some(Line::Text { offset: 103, bytes: b"b" }));
/// assert_eq!(r.next_line()?, None);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    limit: usize,
    follow: bool,
    buf: Vec<u8>,
    /// Offset of the first byte of the line being read.
    start: u64,
    /// Bytes consumed from `inner`.
    pos: u64,
    /// The current line passed `limit`: its bytes are counted, not kept.
    skipping: bool,
    /// The last call returned a line: the next one starts a new line.
    returned: bool,
    /// SHA-256 of every byte consumed, when asked for ([`LineReader::with_digest`]).
    digest: Option<Sha256>,
}

impl<R: BufRead> LineReader<R> {
    /// A reader of `inner` keeping at most `limit` bytes of a line (`limit` 0 is taken as 1).
    pub fn new(inner: R, limit: usize) -> Self {
        LineReader {
            inner,
            limit: limit.max(1),
            follow: false,
            buf: Vec::new(),
            start: 0,
            pos: 0,
            skipping: false,
            returned: false,
            digest: None,
        }
    }

    /// Also hashes (SHA-256) every byte consumed, for [`LineReader::digest`].
    pub fn with_digest(mut self) -> Self {
        self.digest = Some(Sha256::new());
        self
    }

    /// SHA-256 state of the bytes consumed so far (`None` without [`LineReader::with_digest`]):
    /// after a line was returned, of the input up to and including that line's `\n`.
    pub fn digest(&self) -> Option<&Sha256> {
        self.digest.as_ref()
    }

    /// Follow mode (a growing file): at the end of the input an unterminated last line is kept
    /// for the next call instead of being returned, so a writer caught mid-line is not split.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next line, or `None` at the end of the input (in follow mode: of the input so far;
    /// call again later).
    ///
    /// # Errors
    /// The inner reader's errors (`Interrupted` is retried).
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.returned {
            self.returned = false;
            self.buf.clear();
            self.skipping = false;
            self.start = self.pos;
        }
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                let pending = self.skipping || !self.buf.is_empty();
                if self.follow || !pending {
                    return Ok(None);
                }
                return Ok(Some(self.emit(false)));
            }
            let newline = avail.iter().position(|&b| b == b'\n');
            let part = newline.unwrap_or(avail.len());
            if !self.skipping {
                let room = self.limit - self.buf.len();
                if part > room {
                    self.buf.extend_from_slice(&avail[..room]);
                    self.skipping = true;
                } else {
                    self.buf.extend_from_slice(&avail[..part]);
                }
            }
            let used = part + usize::from(newline.is_some());
            if let Some(d) = &mut self.digest {
                d.update(&avail[..used]);
            }
            self.inner.consume(used);
            self.pos += used as u64;
            if newline.is_some() {
                return Ok(Some(self.emit(true)));
            }
        }
    }

    /// The line just completed (its `\n`, when `newline`, already consumed).
    fn emit(&mut self, newline: bool) -> Line<'_> {
        self.returned = true;
        let offset = self.start;
        let len = self.pos - self.start - u64::from(newline);
        if self.skipping {
            return Line::TooLong {
                offset,
                len,
                prefix: &self.buf,
            };
        }
        let mut bytes = &self.buf[..];
        if let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        Line::Text { offset, bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8], limit: usize) -> Vec<(u64, Option<Vec<u8>>, u64)> {
        let mut r = LineReader::new(std::io::BufReader::with_capacity(7, input), limit);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Text { offset, bytes } => (offset, Some(bytes.to_vec()), bytes.len() as u64),
                Line::TooLong {
                    offset,
                    len,
                    prefix,
                } => {
                    assert_eq!(prefix.len(), limit);
                    (offset, None, len)
                }
            });
        }
        out
    }

    #[test]
    fn long_lines_are_reported_with_offset_and_reading_goes_on() {
        let input = b"ab\r\n0123456789abc\n\nlast";
        let got = all(input, 5);
        assert_eq!(
            got,
            vec![
                (0, Some(b"ab".to_vec()), 2),
                (4, None, 13),
                (18, Some(Vec::new()), 0),
                (19, Some(b"last".to_vec()), 4),
            ]
        );
    }

    #[test]
    fn a_long_last_line_without_newline_is_reported() {
        assert_eq!(
            all(b"a\nxxxxxxxxxx", 3),
            vec![(0, Some(b"a".to_vec()), 1), (2, None, 10)]
        );
    }

    #[test]
    fn follow_mode_keeps_a_partial_line_until_it_is_complete() {
        // A pipe-like input that yields `{"a` then EOF, then the rest of the line.
        struct Chunks(Vec<&'static [u8]>, Vec<u8>);
        impl io::Read for Chunks {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                unreachable!()
            }
        }
        impl BufRead for Chunks {
            fn fill_buf(&mut self) -> io::Result<&[u8]> {
                if self.1.is_empty() && !self.0.is_empty() {
                    self.1 = self.0.remove(0).to_vec();
                }
                Ok(&self.1)
            }
            fn consume(&mut self, n: usize) {
                self.1.drain(..n);
            }
        }
        // An empty chunk stands for "end of the input so far".
        let src = Chunks(vec![b"one\ntw", b"", b"o\n"], Vec::new());
        let mut r = LineReader::new(src, 100).follow(true);
        assert_eq!(
            r.next_line().unwrap(),
            Some(Line::Text {
                offset: 0,
                bytes: b"one"
            })
        );
        assert_eq!(r.next_line().unwrap(), None);
        assert_eq!(
            r.next_line().unwrap(),
            Some(Line::Text {
                offset: 4,
                bytes: b"two"
            })
        );
        assert_eq!(r.next_line().unwrap(), None);
    }

    proptest! {
        /// Against `split(b'\n')`: same lines, same offsets; long ones flagged with their length.
        #[test]
        fn agrees_with_split(input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'x')], 0..200), limit in 1usize..20) {
            let got = all(&input, limit);
            let mut want = Vec::new();
            let mut offset = 0u64;
            let pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
            for (i, piece) in pieces.iter().enumerate() {
                let last = i + 1 == pieces.len();
                if last && piece.is_empty() {
                    break;
                }
                if piece.len() > limit {
                    want.push((offset, None, piece.len() as u64));
                } else {
                    let t = piece.strip_suffix(b"\r").unwrap_or(piece);
                    want.push((offset, Some(t.to_vec()), t.len() as u64));
                }
                offset += piece.len() as u64 + 1;
            }
            prop_assert_eq!(got, want);
        }
    }
}
