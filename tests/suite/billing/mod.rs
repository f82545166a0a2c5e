//! membership-billing from outside, on both backends, one file per part of
//! the service: the catalog under the free-forever rule and plan versions
//! (`catalog`), member accounts (`accounts`), the purchase path and plan
//! changes (`subscriptions`), the renewal cycle and the renewal book
//! (`renewals`), conversion and ARR (`reports`). The calls several of them
//! make are here.

use tonic::Code;
use tonic_types::StatusExt as _;

mod accounts;
mod catalog;
mod renewals;
mod reports;
mod subscriptions;

/// `status` is ALREADY_EXISTS with `ResourceInfo` naming `existing`.
pub(super) fn names_the_existing(status: tonic::Status, existing: &str) {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let info = status.get_details_resource_info().expect("ResourceInfo");
    assert_eq!(info.resource_name, existing, "{status:?}");
}
