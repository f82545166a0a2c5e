//! training-enrollment from outside, on both backends, one file per part of
//! the service: programmes and courses (`catalog`), seats, the FIFO waitlist,
//! promotion, deadlines, idempotent enrolment, learner scope and AutoEnroll's
//! city → headquarters → waitlist (`enrollment`), completion, certificates
//! and validity (`completion`), the compliance report (`compliance`). The
//! calls several of them make are here.

mod catalog;
mod completion;
mod compliance;
mod enrollment;
