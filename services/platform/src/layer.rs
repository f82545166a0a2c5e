//! The tower plumbing every tiejun layer shares, written once: a layer
//! says only what it does around one call ([`Around`]); [`AroundLayer`]
//! makes it a `tower::Layer`, and [`AroundService`] the service, which
//! polls the inner service ready and hands the ready one to the call.
//!
//! The layers built on it, outermost first as a server stacks them: the RED
//! metrics ([`metrics::Red`](crate::metrics::Red)), the drain's hard stop
//! ([`server::HardStop`](crate::server::HardStop)), deadlines
//! ([`deadline::Deadlines`](crate::deadline::Deadlines)), the process's
//! limit ([`server::Shed`](crate::server::Shed)), authentication and
//! authorisation ([`auth::Auth`](crate::auth::Auth)) and one caller's share
//! ([`server::ShareOfCalls`](crate::server::ShareOfCalls)); and the
//! gateway's Connect translation in front of its routes.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower::{Layer, Service};

/// The future of one call through a layer.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a layer does around one call. `inner` is the next service, polled
/// ready; the layer's own state is `self`, shared by every service it made.
pub trait Around<S, Req>: Clone {
    /// What the call answers.
    type Response;
    /// How the call fails; `S`'s errors convert into it.
    type Error;

    /// One call: answer it here, or pass it to `inner`.
    fn around(&self, req: Req, inner: S) -> BoxFuture<Result<Self::Response, Self::Error>>;
}

/// A service behind a layer, as a gRPC server stacks it: it takes HTTP
/// requests, may be moved into a boxed call and fails with an error that may
/// be sent across threads. A layer names its response as
/// `Inner<ReqBody, Response = Response<ResBody>>`.
pub trait Inner<ReqBody>:
    Service<Request<ReqBody>, Future: Send + 'static, Error: Send + 'static> + Send + 'static
{
}

impl<T, ReqBody> Inner<ReqBody> for T where
    T: Service<Request<ReqBody>, Future: Send + 'static, Error: Send + 'static> + Send + 'static
{
}

/// An [`Around`] as a `tower::Layer`.
#[derive(Debug, Clone)]
pub struct AroundLayer<A> {
    around: A,
}

impl<A> AroundLayer<A> {
    /// The layer that does `around` around every call.
    pub fn new(around: A) -> Self {
        Self { around }
    }
}

impl<A: Clone, S> Layer<S> for AroundLayer<A> {
    type Service = AroundService<A, S>;

    fn layer(&self, inner: S) -> Self::Service {
        AroundService {
            around: self.around.clone(),
            inner,
        }
    }
}

/// The service made by an [`AroundLayer`].
#[derive(Debug, Clone)]
pub struct AroundService<A, S> {
    around: A,
    inner: S,
}

impl<A, S, Req> Service<Req> for AroundService<A, S>
where
    A: Around<S, Req>,
    S: Service<Req> + Clone,
    S::Error: Into<A::Error>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = BoxFuture<Result<A::Response, A::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The clone has not been polled ready; the call takes the one that was.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        self.around.around(req, inner)
    }
}

/// A layer that decides before a call starts whether it may (a token, a
/// limit), and holds what it granted (a permit, a place) until the call has
/// its response head, which for a unary call is the whole call.
pub trait Gate: Clone + Send + Sync + 'static {
    /// What an admitted call holds while it runs.
    type Held: Send + 'static;

    /// Admits the call, marking `req` as it needs (the caller's
    /// principal), or refuses it with the status its caller gets.
    fn admit<B>(&self, req: &mut Request<B>) -> Result<Self::Held, tonic::Status>;
}

/// A [`Gate`] as an [`Around`].
#[derive(Debug, Clone)]
pub struct Gated<G>(G);

/// The layer that lets only the calls `gate` admits through.
pub fn gate<G: Gate>(gate: G) -> AroundLayer<Gated<G>> {
    AroundLayer::new(Gated(gate))
}

impl<G, S, ReqBody, ResBody> Around<S, Request<ReqBody>> for Gated<G>
where
    G: Gate,
    S: Inner<ReqBody, Response = Response<ResBody>>,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;

    fn around(&self, mut req: Request<ReqBody>, mut inner: S) -> BoxFuture<Result<Self::Response, S::Error>> {
        match self.0.admit(&mut req) {
            Err(status) => answer(status.into_http()),
            Ok(held) => Box::pin(async move {
                let response = inner.call(req).await;
                drop(held);
                response
            }),
        }
    }
}

/// `response` as the whole answer to a call, without calling further in.
pub fn answer<T: Send + 'static, E: Send + 'static>(response: T) -> BoxFuture<Result<T, E>> {
    Box::pin(std::future::ready(Ok(response)))
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// Counts the calls it passes on; refuses those to `/refused`.
    #[derive(Clone, Default)]
    struct Counter {
        passed: Arc<AtomicUsize>,
    }

    impl<S> Around<S, Request<()>> for Counter
    where
        S: Inner<(), Response = Response<&'static str>>,
    {
        type Response = Response<&'static str>;
        type Error = S::Error;

        fn around(&self, req: Request<()>, mut inner: S) -> BoxFuture<Result<Self::Response, S::Error>> {
            if req.uri().path() == "/refused" {
                return answer(Response::new("refused here"));
            }
            self.passed.fetch_add(1, Ordering::SeqCst);
            Box::pin(inner.call(req))
        }
    }

    /// Answers only once polled ready; a clone starts unready, so a call
    /// on a clone that was never polled fails.
    #[derive(Default)]
    struct ReadyOnce {
        ready: bool,
    }

    impl Clone for ReadyOnce {
        fn clone(&self) -> Self {
            Self::default()
        }
    }

    impl Service<Request<()>> for ReadyOnce {
        type Response = Response<&'static str>;
        type Error = &'static str;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.ready = true;
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(if self.ready {
                Ok(Response::new("inner"))
            } else {
                Err("called before ready")
            })
        }
    }

    async fn call(service: &mut AroundService<Counter, ReadyOnce>, path: &str) -> Result<&'static str, &'static str> {
        std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
        let response = service.call(Request::get(path).body(()).expect("request")).await?;
        Ok(response.into_body())
    }

    #[tokio::test]
    async fn the_ready_service_takes_the_call_and_a_layer_may_answer_alone() {
        let gate = Counter::default();
        let mut service = AroundLayer::new(gate.clone()).layer(ReadyOnce::default());
        assert_eq!(call(&mut service, "/a").await, Ok("inner"));
        assert_eq!(
            call(&mut service, "/b").await,
            Ok("inner"),
            "each call goes to a ready service"
        );
        assert_eq!(call(&mut service, "/refused").await, Ok("refused here"));
        assert_eq!(gate.passed.load(Ordering::SeqCst), 2);
    }

    /// Admits all but `/refused`; counts the calls that still hold it.
    #[derive(Clone, Default)]
    struct Holding {
        held: Arc<AtomicUsize>,
    }

    struct Hold(Arc<AtomicUsize>);

    impl Drop for Hold {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl Gate for Holding {
        type Held = Hold;

        fn admit<B>(&self, req: &mut Request<B>) -> Result<Hold, tonic::Status> {
            if req.uri().path() == "/refused" {
                return Err(tonic::Status::permission_denied("not this one"));
            }
            self.held.fetch_add(1, Ordering::SeqCst);
            Ok(Hold(self.held.clone()))
        }
    }

    /// Answers once `open` is sent, reporting how many calls hold the gate.
    #[derive(Clone)]
    struct Reporting {
        held: Arc<AtomicUsize>,
        open: Arc<tokio::sync::Notify>,
    }

    impl Service<Request<()>> for Reporting {
        type Response = Response<String>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Result<Response<String>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<()>) -> Self::Future {
            let (held, open) = (self.held.clone(), self.open.clone());
            Box::pin(async move {
                open.notified().await;
                Ok(Response::new(held.load(Ordering::SeqCst).to_string()))
            })
        }
    }

    #[tokio::test]
    async fn a_gate_holds_its_grant_for_the_whole_call_and_answers_a_refusal_itself() {
        let holding = Holding::default();
        let open = Arc::new(tokio::sync::Notify::new());
        let inner = Reporting {
            held: holding.held.clone(),
            open: open.clone(),
        };
        let mut service = gate(holding.clone()).layer(inner);
        let request = |path: &str| Request::get(path).body(()).expect("request");

        let call = tokio::spawn(service.call(request("/a")));
        tokio::task::yield_now().await;
        assert_eq!(holding.held.load(Ordering::SeqCst), 1, "held while the call runs");
        open.notify_one();
        let response = call.await.expect("call").expect("answer");
        assert_eq!(response.into_body(), "1", "the inner service ran inside the grant");
        assert_eq!(holding.held.load(Ordering::SeqCst), 0, "given back when the call ends");

        let refused = service.call(request("/refused")).await.expect("answer");
        let status = tonic::Status::from_header_map(refused.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(holding.held.load(Ordering::SeqCst), 0);
    }
}
