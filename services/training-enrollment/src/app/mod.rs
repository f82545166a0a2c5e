//! The use cases of training, one module each. A use case takes the
//! transaction, the clock's now, who acts where it matters, and validated
//! input, and returns rows. The gRPC handlers decode, authorise, call one
//! use case and encode; the event consumer calls the same functions, so a
//! rule runs the same way whoever triggers it.
//!
//! Lock order: a session's row before its enrolments (every change to its
//! seats queues on it), a learner's progress row before their scores and
//! certificate. SQLite has one writer at a time (`BEGIN IMMEDIATE`).

pub mod completion;
pub mod consume;
pub mod enrollment;
pub mod sessions;
