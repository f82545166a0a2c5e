//! The one place a handler's answer becomes tonic's: a service implements
//! its RPCs as its own methods, `async fn(&self, Request<Req>) -> Result<Resp,
//! Error>`, and [`grpc_service!`] implements tonic's trait by them, wrapping
//! the answer in a `Response` and converting the [`Error`](crate::Error) to a
//! `Status` (with its `google.rpc` details) once, here.
//!
//! ```text
//! tiejun_platform::grpc_service! {
//!     impl CatalogService for Billing {
//!         create_feature(CreateFeatureRequest) -> CreateFeatureResponse;
//!     }
//! }
//!
//! impl Billing {
//!     async fn create_feature(&self, request: Request<CreateFeatureRequest>) -> Result<CreateFeatureResponse, Error> {
//!         …
//!     }
//! }
//! ```
//!
//! A handler the type does not have fails to compile (the trait's method of
//! the same name returns another type), so the trait cannot call itself.

/// Implements a tonic service trait by the type's own handler methods of the
/// same names (see the [module](self)).
#[macro_export]
macro_rules! grpc_service {
    (impl $service:ident for $ty:ident { $( $rpc:ident($request:ty) -> $response:ty; )* }) => {
        #[tonic::async_trait]
        impl $service for $ty {
            $(
                async fn $rpc(
                    &self,
                    request: tonic::Request<$request>,
                ) -> ::std::result::Result<tonic::Response<$response>, tonic::Status> {
                    match <$ty>::$rpc(self, request).await {
                        Ok(response) => Ok(tonic::Response::new(response)),
                        Err(error) => Err(<tonic::Status as ::std::convert::From<$crate::Error>>::from(error)),
                    }
                }
            )*
        }
    };
}
