//! The consumer's environment: the variables `kstream` sets on the function and the consumer
//! reads at start-up.

/// The bucket objects are written to (required).
pub const BUCKET: &str = "KSTREAM_BUCKET";

/// The object key prefix (optional, default empty; at most
/// [`MAX_KEY_PREFIX_BYTES`](crate::MAX_KEY_PREFIX_BYTES) bytes).
pub const KEY_PREFIX: &str = "KSTREAM_KEY_PREFIX";

/// Every variable of the consumer's environment, in the order they are listed to users.
pub const ALL: [&str; 2] = [BUCKET, KEY_PREFIX];
