/*
 * OIDC login inside the connector: what ngx_edge_auth_oidc.cpp (provider,
 * sessions, the `oidc` access method) and ngx_edge_auth_oidc_endpoints.cpp
 * (/oauth2/callback, start, sign_out, auth, userinfo, backchannel_logout)
 * share. Protocol and session formats are in src/core (oidc.h, session.h).
 *
 *   EaOidcRequest *q = ea_oidc_request(r, ctx);
 *   rc = ea_oidc_ready(r, p, q);                 // discovery (may park)
 *   rc = ea_oidc_http(r, q, req, timeout);       // an IdP call (may park)
 *
 * Ownership: EaOidcProvider belongs to the configuration (pool cleanup); its
 * runtime part (discovered endpoints, waiters) is per worker. EaOidcRequest
 * belongs to the request (pool cleanup); an outbound call's callback holds
 * only a weak reference to it, so a request that ends first is never touched.
 */

#ifndef EDGE_AUTH_NGX_EDGE_AUTH_OIDC_H
#define EDGE_AUTH_NGX_EDGE_AUTH_OIDC_H

#include "ngx/ngx_edge_auth.h"

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/claims.h"
#include "core/http.h"
#include "core/oidc.h"
#include "core/session.h"

enum class EaSessionStore { Cookie, Shm, Redis };
enum class EaUnauthAction { Auto, Redirect, Unauthorized };

class EaOidcProvider {
 public:
    std::string name;
    ngx_str_t conf_file{};
    ngx_uint_t conf_line = 0;
    EaCounter created, refreshed, ended;  /* per worker: addresses in the zone */

    void count(EaCounter &c, std::string_view event)
    {
        ea_count(c, edge_auth::Metric::Sessions, {name, event});
    }

    edge_auth::OidcClientConfig client;
    std::string issuer;                   /* discovery; empty: none */
    edge_auth::ProviderEndpoints configured;  /* preset + explicit endpoints */
    bool oidc = true;                     /* false: plain OAuth2 (github) */
    std::string user_api;                 /* plain OAuth2: the identity */
    bool scopes_set = false;

    std::string prefix = "/oauth2";
    EaSessionStore store = EaSessionStore::Cookie;
    edge_auth::SessionPolicy policy;
    bool refresh = true;
    edge_auth::CookieAttributes cookie;
    std::vector<std::string> redirect_hosts;
    std::vector<std::string> allowed_users;
    std::vector<std::string> allowed_groups;
    std::vector<std::string> allowed_domains;
    EaUnauthAction unauth = EaUnauthAction::Auto;
    std::string post_logout_redirect = "/";
    std::string connect_secret;
    int64_t connect_expires = 300;
    bool pass_access_token = false;
    std::string groups_claim = "groups";
    int userinfo = -1;                    /* -1: on when an endpoint is known */
    bool trust_forwarded = false;
    int64_t timeout_ms = 5000;
    std::string ca_file;

    std::string session_key;              /* derived from edge_auth_session_secret */
    std::string state_key;
    ngx_shm_zone_t *zone = nullptr;
    EaJwksSource *jwks = nullptr;         /* OIDC providers */

    /* per worker */
    bool ready = false;
    edge_auth::ProviderEndpoints ep;      /* what requests use once ready */
    bool discovering = false;
    int64_t retry_at_ms = 0;
    std::string discovery_error;
    EaWaitList waiters;
    /* sessions this worker opened, by their sealed bytes (see
     * ea_open_session_cached); the key views the entry's own copy */
    struct Opened {
        std::string sealed;
        std::string aad;
        std::shared_ptr<edge_auth::Session> session;  /* shared with requests */
        bool live_checked = false;    /* not ended when ended_generation was... */
        ngx_atomic_uint_t live_at = 0;  /* ...this value */
    };
    /* hashes the last bytes of a sealed value only: they hold its GCM tag */
    struct SealedTailHash {
        size_t operator()(std::string_view sealed) const noexcept
        {
            size_t n = sealed.size() < 32 ? sealed.size() : 32;
            return std::hash<std::string_view>{}(sealed.substr(sealed.size() - n))
                   ^ sealed.size();
        }
    };
    std::unordered_map<std::string_view, std::unique_ptr<Opened>, SealedTailHash> opened;
    /* counts the sign-out and back-channel markers written to the zone by
     * any worker: a session found not ended stays so until it moves */
    ngx_atomic_t *ended_generation = nullptr;
    bool ended_generation_looked_up = false;

    bool needs_discovery() const { return !issuer.empty(); }
};

/* One outbound call (HTTP or Redis) of a request, and the request's place
 * in line while it runs. */
struct EaOidcCall {
    bool done = false;
    edge_auth::HttpResponse http;
    ea_redis_reply_t redis;
    EaWaitList list;
    ngx_flag_t timed_out = 0;
};

enum class EaCallbackStep { Start, Token, IdToken, Userinfo, Emails, Store, Done };

struct EaOidcRequest {
    std::shared_ptr<EaOidcCall> call;
    bool discovery_waited = false;

    /* the request's cookies, parsed once (views into the Cookie header,
     * or into cookie_text when there are several) */
    bool cookies_parsed = false;
    std::string cookie_text;
    std::vector<std::pair<std::string_view, std::string_view>> cookies;

    /* session of the request */
    bool session_loaded = false;
    /* shared with the worker's cache of opened sessions: a request that
     * changes it takes its own copy first (ea_oidc_own_session) */
    std::shared_ptr<edge_auth::Session> session;
    std::optional<edge_auth::Claims> claims;  /* parsed from session->claims when asked */
    std::vector<std::string> set_cookies;     /* Set-Cookie values for the response */
    bool store_down = false;
    bool save_pending = false;                /* a Redis SET of the session is running */

    /* refresh */
    bool refresh_owner = false;
    bool refresh_waited = false;
    EaWaitList refresh_wait;
    int redis_lock = 0;                       /* 0 not asked, 1 ours, 2 another node's */
    int redis_polls = 0;
    bool redis_checked = false;               /* the session was read again once */
    ngx_flag_t redis_poll_due = 0;

    /* callback */
    EaCallbackStep step = EaCallbackStep::Start;
    edge_auth::LoginRequest login;
    std::string state_cookie;
    std::string redirect_uri;
    edge_auth::TokenSetResult tokens;
    std::optional<edge_auth::Claims> id_claims;
    std::optional<edge_auth::Claims> userinfo;
    bool jwks_refetched = false;

    /* back-channel logout: the body was read asynchronously */
    bool body_waiting = false;
    bool body_read = false;
    bool logout_accepted = false;             /* verified, markers set */
    bool signed_out = false;                  /* sign-out: the Redis DEL answered */
    std::string logout_index;                 /* Redis index of the sessions to end */
    std::vector<std::string> logout_del;      /* DEL of those sessions, once read */
};

EaOidcRequest *ea_oidc_request(ngx_http_request_t *r, ea_ctx_t *ctx);
int64_t ea_now_s();
int64_t ea_now_ms();

/* NGX_OK ready; NGX_AGAIN parked; NGX_DECLINED the provider is unavailable */
ngx_int_t ea_oidc_ready(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q);
/* NGX_OK: q->call->http holds the answer (or a transport error); NGX_AGAIN */
ngx_int_t ea_oidc_http(ngx_http_request_t *r, EaOidcRequest *q,
    edge_auth::HttpRequest req, int64_t timeout_ms, const std::string &ca_file);
/* NGX_OK: q->call->redis holds the reply; NGX_AGAIN */
ngx_int_t ea_oidc_redis(ngx_http_request_t *r, EaOidcRequest *q,
    std::vector<std::string> args);

/* Loads the session named by the request's cookie into q->session (or
 * none). NGX_OK (q->session may be empty), NGX_AGAIN, NGX_DONE (503 sent). */
ngx_int_t ea_oidc_load_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q);
/* q->session, made the request's own before it is changed (the worker's
 * cache of opened sessions shares it). */
edge_auth::Session &ea_oidc_own_session(EaOidcRequest *q);
/* After writing an ended marker (sign-out, back-channel logout) to the zone:
 * every worker checks its sessions against the markers again. */
void ea_oidc_markers_written(EaOidcProvider *p);
/* Saves q->session to the provider's store and queues its cookie(s).
 * NGX_OK, NGX_AGAIN (redis), NGX_ERROR (store down: q->store_down). */
ngx_int_t ea_oidc_save_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q);
/* The session's ID token for id_token_hint: a cookie session keeps it in
 * this node's zone (empty when another node made the session). */
std::string ea_oidc_id_token(EaOidcProvider *p, const edge_auth::Session &s);
/* Ends the request's session: store entry, cookies, a zone marker. */
void ea_oidc_end_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q);
/* 302 to the provider with a new state cookie. */
ngx_int_t ea_oidc_login_redirect(ngx_http_request_t *r, EaOidcProvider *p,
    EaOidcRequest *q, std::string_view return_to);
/* <scheme>://<host> of this request (X-Forwarded-* when trusted). */
std::string ea_oidc_origin(ngx_http_request_t *r, EaOidcProvider *p);
/* Response with Location and the queued Set-Cookie values; NGX_DONE. */
ngx_int_t ea_oidc_send(ngx_http_request_t *r, EaOidcRequest *q, ngx_uint_t status,
    std::string_view body, std::string_view location = {},
    std::string_view content_type = "text/plain");
/* The Cookie header(s) of the request, parsed once per request. */
const std::vector<std::pair<std::string_view, std::string_view>> &ea_oidc_cookies(
    ngx_http_request_t *r, EaOidcRequest *q);
ngx_shm_zone_t *ea_oidc_zone(EaOidcProvider *p);
edge_auth::Digest ea_oidc_ended_key(EaOidcProvider *p, std::string_view kind,
    std::string_view value);
/* Redis: the sessions of one OP session (sid) or user (sub), ids joined by
 * ',' (APPEND is atomic), for back-channel logout across nodes. */
std::string ea_oidc_index_key(ngx_http_request_t *r, EaOidcProvider *p,
    std::string_view kind, std::string_view value);
std::string ea_oidc_session_key(ngx_http_request_t *r, EaOidcProvider *p, std::string_view id);
/* The session's own identity fields (email, groups joined with ',', sub,
 * preferred_username, name, picture); false for any other claim. */
bool ea_oidc_claim_of(const edge_auth::Session &s, std::string_view name, std::string *buf);
void ea_oidc_log(ngx_http_request_t *r, ngx_uint_t level, EaOidcProvider *p,
    const char *what, std::string_view detail);

#endif /* EDGE_AUTH_NGX_EDGE_AUTH_OIDC_H */
