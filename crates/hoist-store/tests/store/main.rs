//! The store's behaviour, through its public API and the files it leaves on disk.

mod concurrency;
mod copy;
mod gc;
mod helpers;
mod ingest;
mod layout;
mod ranged;
mod resolve;
mod tap;
mod verify;
