//! `kstream put --lines` as a stream, in bounded memory: a reader thread reads the input one
//! line at a time, keeping at most [`MAX_RECORD_BYTES`] of a line, turns each line into a
//! record (or reports it), and hands the records to the engine in chunks through a bounded
//! channel. Records are sent as lines arrive (`tail -f | kstream put --lines`), and neither
//! a huge file nor an endless line can grow memory.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::mpsc;

use super::input::{LineError, LineKey, record_of_line};
use super::{Entry, MAX_BATCH_RECORDS, MAX_RECORD_BYTES, Source};

/// A chunk is handed over at this many records, or this many bytes, or when no more input is
/// buffered (so a slow input's lines are not held back).
const CHUNK_RECORDS: usize = MAX_BATCH_RECORDS;
const CHUNK_BYTES: usize = MAX_RECORD_BYTES;
/// Chunks the channel holds: with the engine's look-ahead, this bounds the memory of a put.
const CHANNEL_CHUNKS: usize = 4;

/// One line, read with a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The line's bytes, without its `\n`.
    Complete(Vec<u8>),
    /// The line is longer than the bound; the rest of it is skipped by the next read.
    TooLong,
}

/// Lines of a reader, each read into at most `max` bytes: a longer line is reported as soon
/// as it passes the bound, and its rest is skipped without being kept.
pub struct BoundedLines<R> {
    input: BufReader<R>,
    max: usize,
    skipping: bool,
}

impl<R: Read> BoundedLines<R> {
    /// Lines of `input`, at most `max` bytes each.
    pub fn new(input: R, max: usize) -> BoundedLines<R> {
        BoundedLines {
            input: BufReader::with_capacity(64 * 1024, input),
            max,
            skipping: false,
        }
    }

    /// Whether the next line would need another read from the input.
    fn nothing_buffered(&self) -> bool {
        self.input.buffer().is_empty()
    }

    /// The next line, or `None` at the end of the input. A final newline ends the last line
    /// rather than starting an empty one.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut line = Vec::new();
        let mut started = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                let skipped = std::mem::take(&mut self.skipping);
                return Ok((started && !skipped).then_some(Line::Complete(line)));
            }
            let end = available.iter().position(|b| *b == b'\n');
            let part = &available[..end.unwrap_or(available.len())];
            let part_len = part.len();
            let used = part_len + usize::from(end.is_some());
            if self.skipping {
                self.input.consume(used);
                if end.is_some() {
                    self.skipping = false;
                }
                continue;
            }
            started = true;
            if line.len() + part_len > self.max {
                self.input.consume(used);
                self.skipping = end.is_none();
                return Ok(Some(Line::TooLong));
            }
            line.extend_from_slice(part);
            self.input.consume(used);
            if end.is_some() {
                return Ok(Some(Line::Complete(line)));
            }
        }
    }
}

/// What reading lines yields, in order.
#[derive(Debug)]
pub enum LineRead {
    /// A line became this record.
    Record(Entry),
    /// A line cannot become a record.
    Invalid(LineError),
    /// No more input is buffered: the next line needs another read, which may block.
    Idle,
}

/// Read `input` line by line into records keyed by `key`, passing each record, invalid line
/// (numbered from 1, in `name`) and idle moment to `emit`; stops when `emit` returns false.
pub fn read_records<R: Read>(
    input: R,
    key: &LineKey,
    name: &str,
    emit: &mut dyn FnMut(LineRead) -> bool,
) -> io::Result<()> {
    let mut lines = BoundedLines::new(input, MAX_RECORD_BYTES);
    let mut line_no = 0u64;
    while let Some(line) = lines.next_line()? {
        line_no += 1;
        let error = |message: String| LineError {
            line: line_no,
            input: name.to_string(),
            message,
        };
        let item = match line {
            Line::TooLong => LineRead::Invalid(error(format!(
                "longer than the {MAX_RECORD_BYTES}-byte (1 MiB) record limit"
            ))),
            Line::Complete(bytes) => match record_of_line(bytes, key, line_no) {
                Ok(entry) => LineRead::Record(entry),
                Err(message) => LineRead::Invalid(error(message)),
            },
        };
        if !emit(item) || (lines.nothing_buffered() && !emit(LineRead::Idle)) {
            return Ok(());
        }
    }
    Ok(())
}

/// Records gathered by the reader thread until they are handed over as one chunk.
struct Chunk {
    records: Vec<Entry>,
    bytes: usize,
}

impl Chunk {
    /// Hand the records over (waiting while the channel is full); false once the put is over.
    fn send(&mut self, tx: &mpsc::Sender<Vec<Entry>>) -> bool {
        self.bytes = 0;
        self.records.is_empty() || tx.blocking_send(std::mem::take(&mut self.records)).is_ok()
    }
}

/// What the reader thread found besides records: invalid lines and a read error.
#[derive(Debug, Default)]
pub struct LineStats {
    invalid: AtomicU64,
    error: Mutex<Option<String>>,
}

impl LineStats {
    /// Lines that could not become records (each reported when read).
    pub fn invalid(&self) -> u64 {
        self.invalid.load(Ordering::Relaxed)
    }

    /// The error that stopped reading the input, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// Records from lines read by a thread, as they arrive; see the module docs.
#[derive(Debug)]
pub struct LineSource {
    rx: mpsc::Receiver<Vec<Entry>>,
    chunk: VecDeque<Entry>,
    closed: bool,
}

impl LineSource {
    /// Start reading `input` (named `name` in messages) on a thread; each invalid line is
    /// passed to `report` as it is read.
    pub fn spawn(
        input: Box<dyn Read + Send>,
        key: LineKey,
        name: String,
        report: impl Fn(&LineError) + Send + 'static,
    ) -> io::Result<(LineSource, Arc<LineStats>)> {
        let (tx, rx) = mpsc::channel::<Vec<Entry>>(CHANNEL_CHUNKS);
        let stats = Arc::new(LineStats::default());
        let thread_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("kstream-lines".into())
            .spawn(move || {
                let mut chunk = Chunk {
                    records: Vec::new(),
                    bytes: 0,
                };
                let result = read_records(input, &key, &name, &mut |item| match item {
                    LineRead::Record(entry) => {
                        chunk.bytes += entry.size();
                        chunk.records.push(entry);
                        let full =
                            chunk.records.len() >= CHUNK_RECORDS || chunk.bytes >= CHUNK_BYTES;
                        !full || chunk.send(&tx)
                    }
                    LineRead::Invalid(e) => {
                        thread_stats.invalid.fetch_add(1, Ordering::Relaxed);
                        report(&e);
                        true
                    }
                    LineRead::Idle => chunk.send(&tx),
                });
                chunk.send(&tx);
                if let Err(e) = result
                    && let Ok(mut slot) = thread_stats.error.lock()
                {
                    *slot = Some(format!("failed to read {name}: {e}"));
                }
            })?;
        Ok((
            LineSource {
                rx,
                chunk: VecDeque::new(),
                closed: false,
            },
            stats,
        ))
    }
}

impl Source for LineSource {
    fn next_record(&mut self) -> Poll<Option<Entry>> {
        loop {
            if let Some(entry) = self.chunk.pop_front() {
                return Poll::Ready(Some(entry));
            }
            if self.closed {
                return Poll::Ready(None);
            }
            match self.rx.try_recv() {
                Ok(chunk) => self.chunk = chunk.into(),
                Err(mpsc::error::TryRecvError::Empty) => return Poll::Pending,
                Err(mpsc::error::TryRecvError::Disconnected) => self.closed = true,
            }
        }
    }

    async fn ready(&mut self) {
        if !self.chunk.is_empty() || self.closed {
            return;
        }
        // `recv` is cancel-safe, and the chunk is stored in the same poll it arrives in.
        match self.rx.recv().await {
            Some(chunk) => self.chunk = chunk.into(),
            None => self.closed = true,
        }
    }

    fn unread(&mut self) -> u64 {
        // The put is over: stop the reader, and count what it had already handed over.
        self.rx.close();
        let mut n = self.chunk.len() as u64;
        while let Ok(chunk) = self.rx.try_recv() {
            n += chunk.len() as u64;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = BoundedLines::new(input, max);
        std::iter::from_fn(|| reader.next_line().unwrap()).collect()
    }

    fn complete(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn lines_end_at_newlines_and_long_ones_are_cut_short() {
        assert_eq!(
            lines(b"one\r\ntwo\n\nfour", 10),
            [
                complete("one\r"),
                complete("two"),
                complete(""),
                complete("four")
            ]
        );
        assert_eq!(lines(b"a\n", 10), [complete("a")]);
        assert!(lines(b"", 10).is_empty());
        assert_eq!(
            lines(b"12345\n123456\nok\n1234567", 5),
            [
                complete("12345"),
                Line::TooLong,
                complete("ok"),
                Line::TooLong
            ]
        );
    }

    #[test]
    fn an_endless_line_is_reported_without_being_kept() {
        let mut reader = BoundedLines::new(io::repeat(b'x'), 1000);
        assert_eq!(reader.next_line().unwrap(), Some(Line::TooLong));
        assert!(reader.input.buffer().len() <= 64 * 1024);
    }

    fn read(input: &[u8], key: &LineKey) -> Vec<Result<Entry, LineError>> {
        let mut out = Vec::new();
        let mut emit = |item| {
            match item {
                LineRead::Record(e) => out.push(Ok(e)),
                LineRead::Invalid(e) => out.push(Err(e)),
                LineRead::Idle => {}
            }
            true
        };
        read_records(input, key, "stdin", &mut emit).unwrap();
        out
    }

    #[test]
    fn bad_lines_are_named_and_the_others_kept() {
        let key = LineKey::Field("k".into());
        let mut input = b"{\"k\":\"a\"}\n{\"k\":\"\"}\n".to_vec();
        input.extend(vec![b'x'; MAX_RECORD_BYTES + 1]);
        input.extend(b"\n{\"k\":\"b\"}\n");
        let out = read(&input, &key);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].as_ref().unwrap().partition_key, "a");
        assert_eq!(
            out[1].as_ref().unwrap_err().to_string(),
            "line 2 of stdin: partition key is empty; it needs 1 to 256 characters"
        );
        assert_eq!(
            out[2].as_ref().unwrap_err().to_string(),
            "line 3 of stdin: longer than the 1048576-byte (1 MiB) record limit"
        );
        assert_eq!(out[3].as_ref().unwrap().partition_key, "b");
    }

    #[tokio::test]
    async fn records_arrive_before_the_input_ends() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (mut source, stats) = LineSource::spawn(
            Box::new(reader),
            LineKey::Fixed("k".into()),
            "stdin".into(),
            |_| {},
        )
        .unwrap();
        assert_eq!(source.next_record(), Poll::Pending);
        std::io::Write::write_all(&mut writer, b"one\ntwo\n").unwrap();
        let wait = tokio::time::timeout(std::time::Duration::from_secs(10), source.ready());
        wait.await.expect("records while the input is open");
        let Poll::Ready(Some(first)) = source.next_record() else {
            panic!("a record")
        };
        assert_eq!(first.data, b"one");
        drop(writer);
        let mut rest = Vec::new();
        loop {
            source.ready().await;
            match source.next_record() {
                Poll::Ready(Some(e)) => rest.push(e.data),
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
        }
        assert_eq!(rest, [b"two".to_vec()]);
        assert_eq!((stats.invalid(), stats.error()), (0, None));
    }
}
