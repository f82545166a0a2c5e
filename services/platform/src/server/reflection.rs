//! gRPC reflection (v1 and v1alpha) over the merged descriptor set, built
//! once per process for each set of advertised services: every build decodes
//! and indexes all the descriptors again, and the gateway's workers each
//! serve the same set.

use std::{
    convert::Infallible,
    sync::{Mutex, PoisonError},
    task::{Context, Poll},
};

use anyhow::Context as _;
use tonic::{body::Body, server::NamedService};
use tower::{Service, util::BoxCloneSyncService};

use super::HEALTH_SERVICE;

/// The health service names of the reflection services, advertised with them.
pub(super) const REFLECTION_SERVICES: [&str; 2] = [V1, V1ALPHA];

const V1: &str = "grpc.reflection.v1.ServerReflection";
const V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

type Erased = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// One reflection service, v1 (`ALPHA = false`) or v1alpha, as tonic's
/// router takes it.
#[derive(Clone)]
pub(super) struct Reflection<const ALPHA: bool>(Erased);

impl NamedService for Reflection<false> {
    const NAME: &'static str = V1;
}

impl NamedService for Reflection<true> {
    const NAME: &'static str = V1ALPHA;
}

impl<const ALPHA: bool> Service<http::Request<Body>> for Reflection<ALPHA> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = <Erased as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        self.0.call(req)
    }
}

/// What was built, by the services it advertises.
type Built = Vec<(Vec<String>, Reflection<false>, Reflection<true>)>;

static BUILT: Mutex<Built> = Mutex::new(Vec::new());

/// Reflection v1 and v1alpha advertising `services` (and health and
/// reflection themselves), shared with every other server of this process
/// that advertises the same.
pub(super) fn services(services: &[String]) -> anyhow::Result<(Reflection<false>, Reflection<true>)> {
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, v1, v1alpha)) = built.iter().find(|(s, _, _)| s == services) {
        return Ok((v1.clone(), v1alpha.clone()));
    }
    let v1 = Reflection(Erased::new(
        builder(services).build_v1().context("building reflection v1")?,
    ));
    let v1alpha = Reflection(Erased::new(
        builder(services)
            .build_v1alpha()
            .context("building reflection v1alpha")?,
    ));
    built.push((services.to_vec(), v1.clone(), v1alpha.clone()));
    Ok((v1, v1alpha))
}

fn builder(services: &[String]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tiejun_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE);
    for name in REFLECTION_SERVICES {
        builder = builder.with_service_name(name);
    }
    for service in services {
        builder = builder.with_service_name(service.clone());
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built_for(names: &[String]) -> usize {
        let built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        built.iter().filter(|(s, _, _)| s == names).count()
    }

    #[test]
    fn the_same_services_are_built_once_and_other_services_apart() {
        let one = vec!["tiejun.billing.v1.EntitlementService".to_owned()];
        let other = vec!["tiejun.leads.v1.LeadService".to_owned()];
        services(&one).expect("built");
        services(&one).expect("shared");
        services(&other).expect("built");
        assert_eq!(built_for(&one), 1);
        assert_eq!(built_for(&other), 1);
    }
}
