//! `#[grpc_service(Trait)]`, re-exported as `tiejun_platform::grpc_service`:
//! the one place a handler's answer becomes tonic's. A service writes its
//! RPCs as its own methods in one `impl` block and names the tonic trait
//! they implement; the attribute keeps the block as written and adds the
//! trait's implementation, which takes the principal and the message out of
//! the request, calls the handler of the same name, wraps its answer in a
//! `Response` and converts its `Error` to a `Status` (with the `google.rpc`
//! details) once.
//!
//! ```text
//! #[tiejun_platform::grpc_service(CatalogService)]
//! impl Billing {
//!     async fn create_feature(&self, principal: &Principal, r: &CreateFeatureRequest) -> Result<CreateFeatureResponse, Error> {
//!         …
//!     }
//! }
//! ```
//!
//! A handler takes, after `&self`, one of:
//! - `principal: &Principal, r: &Req`: the caller the auth layer verified
//!   (UNAUTHENTICATED where there is none) and the message;
//! - `r: &Req`: the message only;
//! - `request: Request<…>`: the whole request, for a client stream or for a
//!   handler that takes the message by value.
//!
//! Every method of the block must be an RPC of the trait (helpers go in
//! another `impl` block), and every RPC of the trait must be in the block:
//! the compiler refuses either mistake.
//!
//! `#[both_backends]`, re-exported as `tiejun_platform::both_backends` (with
//! the `testing` feature):
//! a test body `async fn(db: TestDatabase)` run once on SQLite and once on
//! PostgreSQL, as the tests `<body>::sqlite` and `<body>::postgres`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{
    FnArg, GenericArgument, ImplItem, ImplItemFn, ItemFn, ItemImpl, Path, PathArguments, ReturnType, Type,
    parse_macro_input, spanned::Spanned as _,
};

/// Implements the tonic service trait named in the attribute by the RPC
/// handlers of the `impl` block it is on (see the [crate](crate) docs).
#[proc_macro_attribute]
pub fn grpc_service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let service = parse_macro_input!(attr as Path);
    let block = parse_macro_input!(item as ItemImpl);
    expand(&service, &block)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(service: &Path, block: &ItemImpl) -> syn::Result<Tokens> {
    if let Some((_, name, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            name,
            "#[grpc_service] goes on the type's own impl block, which it implements the trait by",
        ));
    }
    let ty = &block.self_ty;
    let methods = block
        .items
        .iter()
        .map(|item| match item {
            ImplItem::Fn(handler) => trait_method(ty, handler),
            other => Err(syn::Error::new_spanned(
                other,
                "only the service's RPC handlers belong in a #[grpc_service] block",
            )),
        })
        .collect::<syn::Result<Vec<_>>>()?;
    Ok(quote! {
        #block

        #[::tonic::async_trait]
        impl #service for #ty {
            #(#methods)*
        }
    })
}

/// Runs the test body it is on, `async fn name(db: TestDatabase)`, once on
/// each backend: it adds a module of the body's name holding the tests
/// `sqlite` (a fresh file) and `postgres` (a fresh database of the test
/// cluster; skipped when there is none, unless `TIEJUN_TEST_POSTGRES=require`).
#[proc_macro_attribute]
pub fn both_backends(attr: TokenStream, item: TokenStream) -> TokenStream {
    let body = parse_macro_input!(item as ItemFn);
    if !attr.is_empty() {
        return syn::Error::new(Tokens::from(attr).span(), "#[both_backends] takes no arguments")
            .into_compile_error()
            .into();
    }
    if body.sig.asyncness.is_none() || body.sig.inputs.len() != 1 {
        return syn::Error::new(
            body.sig.span(),
            "#[both_backends] goes on an async fn(db: TestDatabase)",
        )
        .into_compile_error()
        .into();
    }
    let name = &body.sig.ident;
    quote! {
        #body

        mod #name {
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::#name(::tiejun_platform::testing::TestDatabase::sqlite()).await;
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = ::tiejun_platform::testing::TestDatabase::postgres().await {
                    super::#name(db).await;
                }
            }
        }
    }
    .into()
}

/// The trait's method for one handler.
fn trait_method(ty: &Type, handler: &ImplItemFn) -> syn::Result<Tokens> {
    let sig = &handler.sig;
    let name = &sig.ident;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(sig.fn_token, "an RPC handler is an async fn"));
    }
    if !matches!(sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none()) {
        return Err(syn::Error::new(sig.span(), "an RPC handler takes &self first"));
    }
    let arguments: Vec<&Type> = sig
        .inputs
        .iter()
        .skip(1)
        .map(|input| match input {
            FnArg::Typed(typed) => Ok(&*typed.ty),
            FnArg::Receiver(r) => Err(syn::Error::new_spanned(r, "only the first argument is self")),
        })
        .collect::<syn::Result<_>>()?;
    let (request, call) = match arguments.as_slice() {
        [Type::Reference(message)] => {
            let message = &message.elem;
            (quote!(::tonic::Request<#message>), quote!(request.get_ref()))
        }
        [whole] => (quote!(#whole), quote!(request)),
        [_, Type::Reference(message)] => {
            let message = &message.elem;
            (
                quote!(::tonic::Request<#message>),
                quote!(::tiejun_platform::auth::Principal::of(&request)?, request.get_ref()),
            )
        }
        _ => {
            return Err(syn::Error::new(
                sig.inputs.span(),
                "an RPC handler takes (&self, principal: &Principal, r: &Req), (&self, r: &Req) \
                 or (&self, request: Request<…>)",
            ));
        }
    };
    let response = answer(&sig.output)?;
    Ok(quote! {
        async fn #name(
            &self,
            request: #request,
        ) -> ::std::result::Result<::tonic::Response<#response>, ::tonic::Status> {
            match <#ty>::#name(self, #call).await {
                ::std::result::Result::Ok(response) => ::std::result::Result::Ok(::tonic::Response::new(response)),
                ::std::result::Result::Err(error) => ::std::result::Result::Err(::tonic::Status::from(error)),
            }
        }
    })
}

/// `T` of a handler's `Result<T, Error>`.
fn answer(output: &ReturnType) -> syn::Result<&Type> {
    let refuse = || syn::Error::new(output.span(), "an RPC handler answers Result<Response, Error>");
    let ReturnType::Type(_, ty) = output else {
        return Err(refuse());
    };
    let Type::Path(path) = &**ty else {
        return Err(refuse());
    };
    let last = path.path.segments.last().ok_or_else(refuse)?;
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return Err(refuse());
    };
    match arguments.args.first() {
        Some(GenericArgument::Type(response)) if last.ident == "Result" => Ok(response),
        _ => Err(refuse()),
    }
}
