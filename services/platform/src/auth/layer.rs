//! The server layer that turns a bearer token into a [`Principal`].

use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::access::{Access, Refusal, split_path};
use super::oidc::OidcVerifier;
use super::{AuthConfig, AuthError, Principal, TokenVerifier};

/// Every way a token may be vouched for: the suite's own keys and each identity provider,
/// chosen by the token's `iss`.
#[derive(Clone, Debug)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    own_issuer: String,
    keys: TokenVerifier,
    providers: Vec<OidcVerifier>,
}

impl Authenticator {
    /// For the service named `service` (whose audience is `spontan-<service>` unless
    /// `auth.audience` says otherwise).
    pub fn from_config(config: &AuthConfig, service: &str) -> Result<Self, AuthError> {
        let audience = config.audience_for(service);
        let providers = config
            .oidc
            .iter()
            .map(|provider| OidcVerifier::new(provider.clone(), audience.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                own_issuer: config.issuer.clone(),
                keys: TokenVerifier::from_config(config)?,
                providers,
            }),
        })
    }

    /// The caller a bearer token names, or why it is refused.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)?;
        let issuer = unverified_issuer(token)?;
        if issuer == self.inner.own_issuer {
            return self.inner.keys.verify(token);
        }
        match self.inner.providers.iter().find(|p| p.issuer() == issuer) {
            Some(provider) => provider.verify(token, &header).await,
            None => Err(AuthError::Refused(format!("unknown issuer {issuer:?}"))),
        }
    }
}

/// `iss` before the signature is checked: only to choose who checks it.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let malformed = || AuthError::Refused("malformed token".into());
    let payload = token.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    let claims: Issuer = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    Ok(claims.iss)
}

/// Verifies the `authorization: Bearer …` header of every request to the server it wraps,
/// and refuses a call whose caller the method's [`Access`] rule does not allow, before the
/// request reaches its handler.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    authenticator: Authenticator,
    access: Arc<[&'static Access]>,
}

impl AuthLayer {
    pub fn new(authenticator: Authenticator, access: &[&'static Access]) -> Self {
        Self {
            authenticator,
            access: access.into(),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: self.authenticator.clone(),
            access: self.access.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Authenticator,
    access: Arc<[&'static Access]>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is ready only after poll_ready; call the one that was polled.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let authenticator = self.authenticator.clone();
        let access = self.access.clone();
        Box::pin(async move {
            let role = match bearer(request.headers()) {
                None => None,
                Some(Err(status)) => return Ok(status.into_http()),
                Some(Ok(token)) => match authenticator.authenticate(&token).await {
                    Ok(principal) => {
                        let role = principal.role;
                        request.extensions_mut().insert(principal);
                        Some(role)
                    }
                    Err(error) => {
                        tracing::debug!(%error, "token refused");
                        metrics::counter!("auth_tokens_refused_total").increment(1);
                        return Ok(
                            tonic::Status::unauthenticated("invalid or expired token").into_http()
                        );
                    }
                },
            };
            if let Some((service, method)) = split_path(request.uri().path())
                && let Some(rules) = access.iter().find(|a| a.service == service)
            {
                match rules.check(method, role) {
                    Ok(()) => {}
                    Err(Refusal::Unauthenticated) => {
                        return Ok(tonic::Status::unauthenticated(
                            "authentication required: send \"authorization: Bearer <token>\"",
                        )
                        .into_http());
                    }
                    Err(Refusal::PermissionDenied(why)) => {
                        metrics::counter!("auth_calls_refused_total").increment(1);
                        return Ok(tonic::Status::permission_denied(why).into_http());
                    }
                }
            }
            inner.call(request).await
        })
    }
}

/// The token of an `authorization: Bearer <token>` header; `None` without the header.
fn bearer(headers: &http::HeaderMap) -> Option<Result<String, tonic::Status>> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    Some(
        token.ok_or_else(|| {
            tonic::Status::unauthenticated("authorization must be \"Bearer <token>\"")
        }),
    )
}
