//! Which backend answers a path, and what the gateway knows of the method
//! from the descriptors: its call kind and whether it is safe to repeat.

use std::collections::HashMap;

/// What the gateway knows of one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Index of the backend pool.
    pub backend: usize,
    /// The request is a stream (it is forwarded as it comes, never buffered
    /// nor retried).
    pub client_streaming: bool,
    /// The response is a stream (no default deadline).
    pub server_streaming: bool,
    /// Declared free of side effects.
    pub read_only: bool,
    /// The request's `idempotency_key` field number, if it has one.
    pub idempotency_key_field: Option<u32>,
}

/// Paths to routes.
#[derive(Debug, Default)]
pub struct RouteTable {
    methods: HashMap<String, Route>,
    packages: Vec<(String, usize)>,
}

impl RouteTable {
    /// Routes every method of `packages[i]` to backend `i`.
    pub fn new(packages: &[String]) -> Self {
        let mut table = Self::default();
        for (backend, package) in packages.iter().enumerate() {
            table.packages.push((format!("/{package}."), backend));
        }
        for method in tiejun_proto::methods() {
            if let Some(backend) = packages.iter().position(|p| *p == method.package) {
                table.methods.insert(
                    method.path,
                    Route {
                        backend,
                        client_streaming: method.client_streaming,
                        server_streaming: method.server_streaming,
                        read_only: method.read_only,
                        idempotency_key_field: method.idempotency_key_field,
                    },
                );
            }
        }
        table
    }

    /// The route for `path`. A method the descriptors do not know, in a
    /// routed package (a backend newer than the gateway), is forwarded as a
    /// stream: never buffered, retried or given a default deadline.
    pub fn lookup(&self, path: &str) -> Option<Route> {
        if let Some(route) = self.methods.get(path) {
            return Some(*route);
        }
        let (_, backend) = self.packages.iter().find(|(prefix, _)| path.starts_with(prefix))?;
        Some(Route {
            backend: *backend,
            client_streaming: true,
            server_streaming: true,
            read_only: false,
            idempotency_key_field: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_package_with_what_the_descriptors_say() {
        let table = RouteTable::new(&["tiejun.leads.v1".into(), "tiejun.billing.v1".into()]);
        let get = table.lookup("/tiejun.leads.v1.LeadService/GetLead").expect("routed");
        assert_eq!((get.backend, get.read_only, get.client_streaming), (0, true, false));
        let import = table
            .lookup("/tiejun.leads.v1.LeadService/ImportLeads")
            .expect("routed");
        assert!(import.client_streaming && !import.read_only);
        let check = table
            .lookup("/tiejun.billing.v1.EntitlementService/CheckEntitlement")
            .expect("routed");
        assert_eq!(check.backend, 1);
        let pay = table
            .lookup("/tiejun.billing.v1.SubscriptionService/RecordPayment")
            .expect("routed");
        assert!(pay.idempotency_key_field.is_some() && !pay.read_only);
        let future = table
            .lookup("/tiejun.leads.v1.LeadService/NotYetKnown")
            .expect("by package");
        assert!(future.client_streaming && !future.read_only);
        assert_eq!(table.lookup("/tiejun.training.v1.ProgramService/GetProgram"), None);
        assert_eq!(table.lookup("/tiejun.leadsx.v1.X/Y"), None);
    }
}
