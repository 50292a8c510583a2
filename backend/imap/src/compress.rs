//! COMPRESS=DEFLATE (RFC 4978): after the tagged OK, both directions are raw DEFLATE
//! (RFC 1951, no zlib header). Output is flushed with a sync flush each time the session
//! flushes, so every response reaches the client whole.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// Plain text made from compressed input per call.
const MAX_OUT: usize = 256 * 1024;

pub(crate) struct Deflate {
    out: Compress,
    inp: Decompress,
    /// Compressed input not decompressed yet.
    pending: Vec<u8>,
    more: bool,
}

impl Deflate {
    pub fn new() -> Deflate {
        Deflate {
            out: Compress::new(Compression::fast(), false),
            inp: Decompress::new(false),
            pending: Vec::new(),
            more: false,
        }
    }

    /// Compresses `data` and ends with a sync flush.
    pub fn compress(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.out.total_in();
            self.out
                .compress_vec(&data[pos..], &mut out, FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            pos += (self.out.total_in() - before) as usize;
            // The flush is complete once all input is taken and output space was left over.
            if pos >= data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Decompresses what arrived, at most [`MAX_OUT`] bytes of it per call (a small
    /// input can inflate enormously); the rest waits in `pending` for the next call, and
    /// [`has_more`](Self::has_more) says there is some. Not DEFLATE: an error.
    pub fn decompress(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::with_capacity(16 * 1024);
        let mut pos = 0;
        self.more = false;
        loop {
            if out.len() >= MAX_OUT {
                self.more = true;
                break;
            }
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().min(MAX_OUT));
            }
            let (bin, bout) = (self.inp.total_in(), self.inp.total_out());
            self.inp
                .decompress_vec(&self.pending[pos..], &mut out, FlushDecompress::Sync)
                .map_err(std::io::Error::other)?;
            pos += (self.inp.total_in() - bin) as usize;
            let progressed = self.inp.total_out() > bout || self.inp.total_in() > bin;
            if (pos >= self.pending.len() && out.len() < out.capacity()) || !progressed {
                break;
            }
        }
        self.pending.drain(..pos);
        Ok(out)
    }

    /// Whether input is waiting that the last call left undecompressed.
    pub fn has_more(&self) -> bool {
        self.more
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_in_pieces() {
        let mut a = super::Deflate::new();
        let mut b = super::Deflate::new();
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let z = a.compress(&text).unwrap();
        let mut got = Vec::new();
        for piece in z.chunks(1000) {
            got.extend(b.decompress(piece).unwrap());
            while b.has_more() {
                got.extend(b.decompress(&[]).unwrap());
            }
        }
        assert_eq!(got, text);
        // A bomb comes out a bounded piece at a time.
        let zeros = a.compress(&vec![0u8; 10 << 20]).unwrap();
        let first = b.decompress(&zeros).unwrap();
        assert!(first.len() <= super::MAX_OUT + 64 * 1024 && b.has_more());
        let mut total = first.len();
        while b.has_more() {
            total += b.decompress(&[]).unwrap().len();
        }
        assert_eq!(total, 10 << 20);
        let z2 = a.compress(b"a2 NOOP\r\n").unwrap();
        assert_eq!(b.decompress(&z2).unwrap(), b"a2 NOOP\r\n");
    }
}
