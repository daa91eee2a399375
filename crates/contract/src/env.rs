//! The consumer's environment: the variables `kstream` sets on the function and the consumer
//! reads at start-up.

/// The bucket objects are written to (required).
pub const BUCKET: &str = "KSTREAM_BUCKET";

/// The object key prefix (optional, default empty; at most
/// [`MAX_KEY_PREFIX_BYTES`](crate::MAX_KEY_PREFIX_BYTES) bytes).
pub const KEY_PREFIX: &str = "KSTREAM_KEY_PREFIX";

/// Most objects the consumer writes at once (optional, a decimal integer in
/// [`WRITE_CONCURRENCY_RANGE`], default [`DEFAULT_WRITE_CONCURRENCY`]).
pub const WRITE_CONCURRENCY: &str = "KSTREAM_WRITE_CONCURRENCY";

/// The values [`WRITE_CONCURRENCY`] may take.
pub const WRITE_CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 1..=256;

/// The write concurrency when none is set: S3 answers a small PutObject in roughly 20–30 ms,
/// so 32 writes in flight keep about 1,000–1,600 objects/s going, one shard's full write rate
/// (1,000 records/s), while staying far below S3's 3,500 PUT/s per prefix.
pub const DEFAULT_WRITE_CONCURRENCY: u32 = 32;

/// Every variable of the consumer's environment, in the order they are listed to users.
pub const ALL: [&str; 3] = [BUCKET, KEY_PREFIX, WRITE_CONCURRENCY];
