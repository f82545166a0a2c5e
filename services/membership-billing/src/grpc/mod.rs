//! The gRPC surface: one module per service of `tiejun.billing.v1`, each
//! RPC decoding, authorising, calling one use case (`crate::app`) or store
//! read, and encoding (`crate::convert`).

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

    /// Forgets cached entitlements (after a write that can change them).
    pub(crate) fn entitlements_changed(&self) {
        self.entitlements.clear();
    }

    /// One renewal cycle (`app::renewals`), as the RPC and the job run it;
    /// cached entitlements are forgotten after it.
    pub(crate) async fn renewal_cycle(&self) -> Result<crate::domain::renewal::CycleOutcome, tiejun_platform::Error> {
        let out = crate::app::renewals::cycle(self.db.get()?, self.now()).await?;
        self.entitlements_changed();
        Ok(out)
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
