//! The gRPC surface. Built: the catalog. Every RPC not built yet answers
//! UNIMPLEMENTED (the generated default), so a client can tell "not yet" from
//! "refused".

mod accounts;
mod cache;
mod catalog;
mod consume;
mod entitlements;
mod reports;
mod subscriptions;

use tiejun_platform::{clock::SharedClock, db::DbCell, limited};
use tiejun_proto::{
    billing::v1::{
        account_service_server::AccountServiceServer, billing_report_service_server::BillingReportServiceServer,
        catalog_service_server::CatalogServiceServer, entitlement_service_server::EntitlementServiceServer,
        outbox_service_server::OutboxServiceServer, subscription_service_server::SubscriptionServiceServer,
    },
    events::v1::event_consumer_service_server::EventConsumerServiceServer,
};
use tonic::service::Routes;

/// The event consumer service this server also answers.
pub(crate) const EVENT_CONSUMER: &str = "tiejun.events.v1.EventConsumerService";

/// The state every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Billing {
    db: DbCell,
    clock: SharedClock,
    entitlements: cache::EntitlementCache,
}

tiejun_platform::outbox_service!(Billing, tiejun_proto::billing::v1);

impl Billing {
    /// The handlers' state.
    pub(crate) fn new(db: DbCell, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            entitlements: cache::EntitlementCache::default(),
        }
    }

    /// The database cell.
    pub(crate) fn db(&self) -> &DbCell {
        &self.db
    }

    /// Forgets cached entitlements (after a write that can change them).
    pub(crate) fn entitlements_changed(&self) {
        self.entitlements.clear();
    }

    /// Now, by the service's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// The routes of every service of this server, with message limits.
pub(crate) fn routes(billing: Billing, max: usize) -> Routes {
    Routes::new(limited!(CatalogServiceServer::new(billing.clone()), max))
        .add_service(limited!(AccountServiceServer::new(billing.clone()), max))
        .add_service(limited!(SubscriptionServiceServer::new(billing.clone()), max))
        .add_service(limited!(EntitlementServiceServer::new(billing.clone()), max))
        .add_service(limited!(BillingReportServiceServer::new(billing.clone()), max))
        .add_service(limited!(OutboxServiceServer::new(billing.clone()), max))
        .add_service(limited!(EventConsumerServiceServer::new(billing), max))
}
