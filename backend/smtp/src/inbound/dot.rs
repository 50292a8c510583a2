//! Reading DATA: undo dot-stuffing and find the end, `<CRLF>.<CRLF>`, exactly.
//!
//! RFC 5321 §4.1.1.4 and §4.5.2. The data starts as if a CRLF had just been seen (so `.` alone
//! on the first line ends an empty message, and a stuffed first line loses its dot). A line
//! that starts with a dot and has more on it loses the dot. Nothing but CR LF after a
//! line-leading dot ends the data: in particular `.<CR><CR><LF>`, `.<LF>` and `<LF>.<LF>` do
//! not, so no look-alike of the terminator can end a message early and let the bytes after
//! it run as commands (SMTP smuggling). Bare CR or LF stay in the message, where the
//! session's line-ending rule refuses them.
//!
//! smtp-proto's `DataReceiver` is not used because it also ends at `<CRLF>.<CR><CR><LF>` and
//! starts mid-line.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or at the start).
    LineStart,
    /// Inside a line.
    Mid,
    /// Just after a CR inside a line (or after a line-leading dot's CR was given back).
    Cr,
    /// A dot at the start of a line, not yet emitted.
    Dot,
    /// A line-leading dot and a CR, neither emitted yet.
    DotCr,
}

pub(super) struct DotReader {
    state: State,
}

impl DotReader {
    pub(super) fn new() -> DotReader {
        DotReader {
            state: State::LineStart,
        }
    }

    /// Consumes bytes from `input` into `out` until the end of data; returns true when the
    /// terminator was read (the bytes after it are left in `input`). The message in `out`
    /// keeps the CRLF that ends its last line.
    pub(super) fn ingest(
        &mut self,
        input: &mut std::slice::Iter<'_, u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        while let Some(&b) = input.next() {
            self.state = match (self.state, b) {
                (State::LineStart, b'.') => State::Dot,
                (State::Dot, b'\r') => State::DotCr,
                (State::DotCr, b'\n') => {
                    self.state = State::LineStart;
                    return true;
                }
                // A line-leading dot with more on the line: the dot goes (it was stuffing).
                (State::Dot, other) => self.plain(State::Mid, other, out),
                (State::DotCr, other) => {
                    out.push(b'\r');
                    self.plain(State::Cr, other, out)
                }
                (s, other) => self.plain(s, other, out),
            };
            if self.state == State::Mid {
                // Fast path: copy up to the next CR in one go.
                let rest = input.as_slice();
                let n = rest.iter().position(|&c| c == b'\r').unwrap_or(rest.len());
                out.extend_from_slice(&rest[..n]);
                *input = rest[n..].iter();
            }
        }
        false
    }

    /// Emits an ordinary byte seen in state `s` and returns the next state.
    fn plain(&self, s: State, b: u8, out: &mut Vec<u8>) -> State {
        out.push(b);
        match (s, b) {
            (_, b'\r') => State::Cr,
            (State::Cr, b'\n') => State::LineStart,
            _ => State::Mid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DotReader;

    /// Feeds `input` in pieces of `step` bytes; returns (message, rest after the end).
    fn read(input: &[u8], step: usize) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut r = DotReader::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            let mut it = chunk.iter();
            if r.ingest(&mut it, &mut out) {
                let chunk_start = chunk.as_ptr() as usize - input.as_ptr() as usize;
                let rest_start = chunk_start + chunk.len() - it.as_slice().len();
                return (out, Some(input[rest_start..].to_vec()));
            }
        }
        (out, None)
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_in_any_split() {
        for step in [1, 2, 3, 7, 1000] {
            assert_eq!(
                read(b"a\r\nb\r\n.\r\nNOOP\r\n", step),
                (b"a\r\nb\r\n".to_vec(), Some(b"NOOP\r\n".to_vec()))
            );
            // An empty message, and a first line that is stuffed.
            assert_eq!(read(b".\r\n", step), (vec![], Some(vec![])));
            assert_eq!(
                read(b"..x\r\n.\r\n", step),
                (b".x\r\n".to_vec(), Some(vec![]))
            );
            // Stuffed lines lose one dot; dots elsewhere stay.
            assert_eq!(
                read(b"a\r\n..\r\n...b\r\nc.d\r\n.\r\n", step).0,
                b"a\r\n.\r\n..b\r\nc.d\r\n"
            );
        }
    }

    #[test]
    fn look_alikes_do_not_end_the_data() {
        for probe in [
            &b"\r\n.\r\r\n"[..],
            b"\n.\n",
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r\n",
            b"\r\n.\r",
        ] {
            let mut input = b"x".to_vec();
            input.extend_from_slice(probe);
            input.extend_from_slice(b"MAIL FROM:<e@r>\r\n");
            for step in [1, 4, 1000] {
                let (out, rest) = read(&input, step);
                assert!(rest.is_none(), "{probe:?} ended the data");
                assert!(out.ends_with(b"MAIL FROM:<e@r>\r\n"));
            }
        }
    }
}
