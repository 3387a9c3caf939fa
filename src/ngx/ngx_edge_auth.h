/*
 * edge-auth nginx connector: declarations shared by the src/ngx files.
 *
 *   load_module modules/ngx_http_edge_auth_module.so;
 *   location /api/ { edge_auth bearer; edge_auth_token env:API_TOKEN; proxy_pass http://b; }
 *
 * The connector is thin: nginx types, phases and storage live here; parsing,
 * verification and policy are in src/core. Every function nginx calls is
 * noexcept and turns a C++ exception into NGX_ERROR plus an error-log line.
 * Prototypes are grouped by the file that defines them.
 */

#ifndef EDGE_AUTH_NGX_EDGE_AUTH_H
#define EDGE_AUTH_NGX_EDGE_AUTH_H

/* nginx headers are C; some of their idioms warn under C++ with -W -Werror
 * (nginx's default flags), so those warnings are silenced for them only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif
}
#pragma GCC diagnostic pop

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/metrics.h"
#include "core/result.h"
#include "core/status.h"

extern "C" ngx_module_t ngx_http_edge_auth_module;

namespace edge_auth {
class TokenSet;
class KeySet;
class Claims;
struct OAuthClientConfig;
}
class EaJwksSource;
class EaJwtVerifier;
struct ea_loc_metrics_t;
struct EaIntrospection;

/* One edge_auth_jwt_keys: a file's keys (loaded now) or a URL's. */
struct ea_jwt_key_t {
    EaJwksSource                              *url;
    std::shared_ptr<const edge_auth::KeySet>  *file;
};

/* edge_auth_claim_header HEADER CLAIM */
struct ea_claim_header_t {
    ngx_str_t    name;
    ngx_str_t    lowcase;
    ngx_uint_t   hash;
    std::string *claim;
};

/* Client authentication methods, as bits; the order of `edge_auth` is kept. */
enum ea_method_e : ngx_uint_t {
    EA_METHOD_BASIC = 0x01,
    EA_METHOD_BEARER = 0x02,
    EA_METHOD_API_KEY = 0x04,
    EA_METHOD_JWT = 0x08,
    EA_METHOD_INTROSPECT = 0x10,
    EA_METHOD_OIDC = 0x20,
};
#define EA_MAX_METHODS 6

/* What ea_access sets when a method consumed a credential (for stripping). */
enum ea_consumed_e : ngx_uint_t {
    EA_CONSUMED_NONE = 0,
    EA_CONSUMED_AUTHORIZATION,
    EA_CONSUMED_API_KEY_HEADER,
    EA_CONSUMED_API_KEY_QUERY,
};

/* One place `api_key` reads: a header or a query parameter. */
struct ea_key_source_t {
    ngx_flag_t  query;
    ngx_str_t   name;
    ngx_str_t   lowcase;
};

class EaOAuthClient;
class EaOidcProvider;

/* One upstream injection, applied in configuration order. */
enum ea_inject_kind_e : ngx_uint_t {
    EA_INJECT_HEADER,
    EA_INJECT_BASIC,
    EA_INJECT_QUERY,
    EA_INJECT_OAUTH,
};

struct ea_inject_t {
    ngx_uint_t                 kind;
    ngx_str_t                  name;      /* header or parameter name */
    ngx_str_t                  lowcase;   /* header name, lowercase */
    ngx_uint_t                 hash;      /* of lowcase */
    ngx_http_complex_value_t  *value;     /* header/query value; basic: user */
    ngx_http_complex_value_t  *password;  /* basic only */
    EaOAuthClient             *oauth;     /* oauth only */
};

/* Users of one configuration level: an htpasswd file and inline users. */
class EaUserFile;
struct ea_users_t {
    EaUserFile  *file;     /* NULL without edge_auth_user_file */
    void        *inline_;  /* edge_auth::UserTable*, NULL without edge_auth_user */
};

struct ea_main_conf_t {
    size_t                 zone_size;
    ngx_shm_zone_t        *zone;
    ngx_str_t              thread_pool_name;
#if (NGX_THREADS)
    ngx_thread_pool_t     *thread_pool;
#endif
    ngx_flag_t             uses_basic;
    ngx_array_t           *user_files;  /* of EaUserFile*, shared by path */
    ngx_array_t           *oauth_clients;  /* of EaOAuthClient* */
    ngx_array_t           *oauth_refs;     /* of ea_oauth_ref_t, resolved later */
    struct ea_redis_conf_t *redis;         /* NULL without edge_auth_redis */
    std::string           *session_secret; /* NULL without edge_auth_session_secret */
    ngx_array_t           *jwks_sources;   /* of EaJwksSource*, shared by URL */
    ngx_array_t           *introspections; /* of EaIntrospection* */
    ngx_array_t           *oidc_providers; /* of EaOidcProvider* */
    ngx_array_t           *oidc_refs;      /* of ea_oidc_ref_t, resolved later */
};

/* Servers know the providers their locations use: their endpoints
 * (/oauth2/callback ...) are served for every location of the server. */
struct ea_srv_conf_t {
    ngx_array_t  *providers;  /* of EaOidcProvider*, NULL = none */
};

/* An edge_auth_oidc NAME, resolved after the whole configuration is read
 * (the provider block may come later). */
struct ea_oidc_ref_t {
    struct ea_loc_conf_t  *lcf;
    ea_srv_conf_t         *srv;
    ngx_http_core_srv_conf_t *cscf;  /* to know whether it listens with ssl */
    ngx_str_t              name;
    ngx_str_t              file;
    ngx_uint_t             line;
};

/* An edge_auth_upstream_oauth NAME seen before its client block. */
struct ea_oauth_ref_t {
    ngx_array_t  *injects;  /* (array, index): the array may still grow */
    ngx_uint_t    index;
    ngx_str_t     name;
    ngx_str_t     file;
    ngx_uint_t    line;
};

struct ea_loc_conf_t {
    EaOidcProvider            *oidc;             /* edge_auth_oidc, resolved */
    ngx_str_t                  oidc_name;        /* as written, until resolved */
    ngx_str_t                  oidc_file;        /* where it was written */
    ngx_uint_t                 oidc_line;
    ngx_str_t                  methods_file;     /* where `edge_auth` was written */
    ngx_uint_t                 methods_line;
    ngx_uint_t                 methods;          /* bits; 0 = off; UNSET = inherit */
    ngx_uint_t                 order[EA_MAX_METHODS];
    ngx_uint_t                 norder;
    ngx_array_t               *bypass;           /* predicates */
    ngx_http_complex_value_t  *realm;
    ea_users_t                *users;
    edge_auth::TokenSet       *tokens;
    ngx_array_t               *key_sources;      /* of ea_key_source_t */
    ngx_flag_t                 strip;
    ngx_array_t               *injects;          /* of ea_inject_t */

    /* jwt: each inherited on its own, like nginx's own directives */
    ngx_array_t               *jwt_keys;         /* of ea_jwt_key_t */
    std::string               *jwt_secret;
    std::shared_ptr<const edge_auth::KeySet> *jwt_secret_keys;
    ngx_array_t               *jwt_algorithms;   /* of ngx_str_t */
    ngx_array_t               *jwt_issuers;      /* of ngx_str_t */
    ngx_array_t               *jwt_audiences;    /* of ngx_str_t */
    ngx_msec_t                 jwt_leeway;
    ngx_flag_t                 jwt_require_exp;
    ngx_http_complex_value_t  *jwt_token;
    ngx_array_t               *rules;            /* of edge_auth::ClaimRule* */
    ngx_array_t               *claim_headers;    /* of ea_claim_header_t */
    ngx_flag_t                 identity_headers;
    EaJwtVerifier             *jwt;              /* built when merged, with jwt on */
    EaIntrospection           *introspection;
    ea_loc_metrics_t          *metrics;          /* per worker, at first use */
    ngx_str_t                  status_file;      /* where edge_auth_status is */
    ngx_uint_t                 status_line;      /* 0: not here */
};

/* Per-request state; lives in the request pool (found again after an
 * internal redirect through the pool cleanup that destroys it). */
enum class EaState { Start, Waiting, Done };

struct ea_ctx_t {
    ngx_http_request_t   *request;
    ea_loc_conf_t        *lcf;        /* the location the state below is for */
    EaState               state;
    edge_auth::AuthStatus status;     /* result of client authentication */
    ngx_uint_t            method;     /* EA_METHOD_* that decided, 0 = none */
    ngx_uint_t            consumed;   /* ea_consumed_e */
    ngx_str_t             consumed_name;  /* API-key header or parameter */
    ngx_str_t             user;
    ngx_str_t             error;      /* $edge_auth_error */
    ngx_flag_t            authenticated;
    ngx_flag_t            bypassed;
    ngx_flag_t            injected;
    const void           *auth_store; /* users/tokens that authenticated */
    EaOAuthClient        *oauth_waited;   /* waited once for this client */
    ngx_flag_t            oauth_timed_out;
    EaOAuthClient        *oauth_sent;     /* its token went upstream */
    ngx_str_t             oauth_sent_token;  /* points into the header value */
    EaJwksSource         *jwks_waited;    /* waited once for these keys */
    void                 *claims;         /* edge_auth::Claims*, owned by the pool */
    ngx_str_t             detail;         /* a more precise $edge_auth_error */
    ngx_uint_t            bearer_error;   /* 0, 1 invalid_token, 2 insufficient_scope */
    ngx_flag_t            introspect_waited;
    ngx_flag_t            jwks_timed_out;
    void                 *session;        /* edge_auth::Session*, owned by the pool */
    void                 *oidc;           /* EaOidcRequest*, owned by the pool */
    ngx_flag_t            parked;         /* in a wait list: phases run again
                                             meanwhile (a write event) must wait */
    ngx_flag_t            count_response; /* a response sent by client auth
                                             (login redirect, 503) is counted
                                             by ea_send: the request may be
                                             gone once it returns */
};

/* ngx_edge_auth_module.cpp */
ea_main_conf_t *ea_main_conf(ngx_http_request_t *r);
/* resolve_secret_ref with a relative file: path taken from the conf prefix */
edge_auth::Result<std::string> ea_conf_secret(ngx_conf_t *cf, std::string_view spec);

/* ngx_edge_auth_directives.cpp */
extern ngx_command_t ea_commands[];

/* ngx_edge_auth_access.cpp */
ngx_int_t ea_access_handler(ngx_http_request_t *r) noexcept;
ngx_int_t ea_precontent_handler(ngx_http_request_t *r) noexcept;
ea_ctx_t *ea_get_ctx(ngx_http_request_t *r);
ea_ctx_t *ea_create_ctx(ngx_http_request_t *r);
void ea_log(ngx_http_request_t *r, ngx_uint_t level, const char *fmt, ...);

/* ngx_edge_auth_basic.cpp */
EaUserFile *ea_user_file_get(ngx_conf_t *cf, ea_main_conf_t *mcf,
    ngx_str_t *path, std::string &error);
ngx_int_t ea_basic_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx, std::string_view credentials);
bool ea_users_configured(const ea_users_t *users);

/* ngx_edge_auth_inject.cpp */
ngx_int_t ea_apply_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx);
ngx_int_t ea_set_header_in(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *lowcase, ngx_uint_t hash, ngx_str_t *value);
void ea_remove_header_in(ngx_http_request_t *r, ngx_str_t *lowcase);

/* ngx_edge_auth_http.cpp: the per-worker libcurl multi-socket client */
namespace edge_auth { class HttpClient; }
edge_auth::HttpClient *ea_http();
/* Frees the ngx_connection_t that wraps a library-owned socket (curl's,
 * hiredis's) for events; the fd itself is never closed here. fd_closing:
 * the library closes it right after. */
void ea_free_event_wrapper(ngx_connection_t *c, bool fd_closing);
ngx_int_t ea_http_init_process(ngx_cycle_t *cycle) noexcept;
void ea_http_exit_process() noexcept;

/* ngx_edge_auth_oauth.cpp */
/* A REF argument (literal, file:, env:), or a time; false after logging. */
bool ea_conf_ref(ngx_conf_t *cf, ngx_str_t *arg, std::string *out);
bool ea_conf_msec(ngx_conf_t *cf, ngx_str_t *arg, int64_t *out);
bool ea_conf_nargs(ngx_conf_t *cf, ngx_uint_t min, ngx_uint_t max);
char *ea_conf_oauth_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
EaOAuthClient *ea_oauth_find(ea_main_conf_t *mcf, ngx_str_t *name);
ngx_int_t ea_oauth_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf);
ngx_uint_t ea_oauth_on_error(EaOAuthClient *client);
const edge_auth::OAuthClientConfig &ea_oauth_config(EaOAuthClient *client);
ngx_int_t ea_oauth_token(ngx_http_request_t *r, EaOAuthClient *client,
    ea_ctx_t *ctx, std::string *token);
ngx_int_t ea_oauth_forward_claims(ngx_http_request_t *r, EaOAuthClient *client,
    std::string_view token);
void ea_oauth_rejected(ngx_http_request_t *r, EaOAuthClient *client,
    std::string_view sent);

/* ngx_edge_auth_redis.cpp: the optional second level (edge_auth_redis) */
struct ea_redis_conf_t {
    std::string   host;      /* an address, resolved at configuration load */
    int           port;
    std::string   username;
    std::string   password;  /* never logged */
    int           db;
    std::string   prefix;
    ngx_msec_t    timeout;
};

struct ea_redis_reply_t {
    bool                        ok = false;  /* false: down, slow or error */
    std::optional<std::string>  value;       /* nullopt: nil */
};

typedef std::function<void(ea_redis_reply_t)> ea_redis_done_pt;

bool ea_redis_enabled();
/* timeout 0 = the edge_auth_redis timeout; otherwise the smaller of both */
void ea_redis_command(std::vector<std::string> args, ea_redis_done_pt done,
    ngx_msec_t timeout = 0);
void ea_redis_post(ea_redis_done_pt done);
ngx_int_t ea_redis_init_process(ngx_cycle_t *cycle,
    const ea_redis_conf_t *conf) noexcept;
void ea_redis_exit_process() noexcept;

/* ngx_edge_auth_wait.cpp: requests parked until a value arrives */
struct EaParked;
struct EaWaitList {
    std::vector<EaParked *> parked;
    std::function<bool()> poll;   /* optional: true = wake everyone */
    ngx_msec_t poll_interval = 20;
    ngx_event_t poll_timer{};
    ~EaWaitList();
};
ngx_int_t ea_wait_park(ngx_http_request_t *r, EaWaitList *list,
    ngx_msec_t timeout, ngx_flag_t *timed_out);
void ea_wait_wake_all(EaWaitList *list);

/* ngx_edge_auth_jwks.cpp: JWKS documents from URLs */
EaJwksSource *ea_jwks_source(ngx_conf_t *cf, ea_main_conf_t *mcf,
    std::string_view url, int64_t ttl_ms, int64_t refresh_min_ms);
void ea_jwks_postconfiguration(ea_main_conf_t *mcf);
ngx_int_t ea_jwks_get(ngx_http_request_t *r, EaJwksSource *src, ea_ctx_t *ctx,
    std::shared_ptr<const edge_auth::KeySet> *keys);
ngx_int_t ea_jwks_refetch(ngx_http_request_t *r, EaJwksSource *src,
    ea_ctx_t *ctx);
const std::string &ea_jwks_url(const EaJwksSource *src);
/* SHA-256 of the document in the zone; false when there is none yet */
bool ea_jwks_version(EaJwksSource *src, edge_auth::Digest *version);
int64_t ea_jwks_ttl(const EaJwksSource *src);
/* ngx_edge_auth_jwt.cpp: the JOSE core behind one function */
std::shared_ptr<const edge_auth::KeySet> ea_jwks_parse(std::string_view text,
    std::string *error);

ngx_int_t ea_jwt_merge(ngx_conf_t *cf, ea_loc_conf_t *lcf);
ngx_int_t ea_jwt_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx, std::string_view token);
ngx_int_t ea_check_rules(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx);
ngx_int_t ea_set_claims_and_check(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx, edge_auth::Claims claims);

/* ngx_edge_auth_introspect.cpp */
char *ea_conf_introspection(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
ngx_int_t ea_introspect_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf);
ngx_int_t ea_introspect_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx, std::string_view token);
ngx_int_t ea_claims_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf,
    ea_ctx_t *ctx);
bool ea_looks_like_jwt(std::string_view token);
std::string_view ea_claim(ea_ctx_t *ctx, std::string_view name, std::string *buf);

/* ngx_edge_auth_oidc.cpp: provider blocks, discovery, login, sessions */
char *ea_conf_oidc_provider(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
char *ea_conf_oidc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
ngx_int_t ea_oidc_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf);
/* NGX_OK: a valid session (ctx->session, ctx->user set); NGX_DECLINED: no
 * usable session (ctx->status says why); NGX_AGAIN: parked; NGX_DONE: a
 * response was sent (503 when the store is down). */
ngx_int_t ea_oidc_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx);
/* A request without a session: 302 to the provider, or 401 (unauth_action). */
ngx_int_t ea_oidc_unauthenticated(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx);
bool ea_oidc_has_session_cookie(ngx_http_request_t *r, EaOidcProvider *p, ea_ctx_t *ctx);
ngx_int_t ea_oidc_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx);
std::string_view ea_oidc_claim(ea_ctx_t *ctx, std::string_view name, std::string *buf);
ngx_int_t ea_oidc_rewrite_handler(ngx_http_request_t *r) noexcept;
ngx_int_t ea_oidc_header_filter(ngx_http_request_t *r);
void ea_oidc_init_process(ea_main_conf_t *mcf);

/* ngx_edge_auth_jwks.cpp (runtime URL, known after discovery) */
void ea_jwks_set_url(EaJwksSource *src, std::string_view url, int64_t timeout_ms,
    std::string_view ca_file);

/* ngx_edge_auth_metrics.cpp: counters in the zone, edge_auth_status */
/* Zone series past the metrics (ea_zone_series): not exposed. */
#define EA_SERIES_OIDC_ENDED  0x10000u  /* per provider: ended markers written */
struct EaCounter {
    ngx_atomic_t *value = nullptr;  /* in the zone; found at first count */
};
enum ea_outcome_e : ngx_uint_t {
    EA_OUTCOME_ALLOWED,
    EA_OUTCOME_DENIED_401,
    EA_OUTCOME_DENIED_403,
    EA_OUTCOME_BYPASSED,
    EA_OUTCOME_ERROR,
    EA_OUTCOME_REDIRECT,   /* a browser sent to log in */
};
#define EA_OUTCOMES 6
void ea_metrics_init_process(ngx_shm_zone_t *zone);
void ea_metrics_exit_process();
void ea_count(EaCounter &counter, edge_auth::Metric metric,
    std::initializer_list<std::string_view> labels);
void ea_count_request(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_outcome_e outcome);
void ea_count_response(ngx_http_request_t *r, ea_loc_conf_t *lcf, ngx_uint_t status);
void ea_count_injection(ngx_http_request_t *r, ea_loc_conf_t *lcf, ngx_uint_t kind);
void ea_count_jwt_cache_hit(ngx_http_request_t *r, ea_loc_conf_t *lcf);
void ea_count_redis_error();
char *ea_conf_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
/* NGX_ERROR (logged) when another content handler took the location */
ngx_int_t ea_status_merge(ngx_conf_t *cf, ea_loc_conf_t *conf);

/* ngx_edge_auth_response.cpp */
ngx_table_elt_t *ea_add_header_out(ngx_http_request_t *r, const char *name,
    std::string_view value);
/* A short response of the module's own (text/plain unless content_type),
 * no-store; finalizes the request and returns NGX_DONE. */
ngx_int_t ea_send(ngx_http_request_t *r, ngx_uint_t status, std::string_view body,
    std::string_view content_type = "text/plain");

/* ngx_edge_auth_filter.cpp */
ngx_int_t ea_filter_init(ngx_conf_t *cf);

/* ngx_edge_auth_response.cpp */
ngx_int_t ea_deny(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    edge_auth::AuthStatus status);

/* ngx_edge_auth_variables.cpp */
ngx_int_t ea_add_variables(ngx_conf_t *cf);

/* ngx_edge_auth_zone.cpp: a bounded LRU key/value cache in shared memory,
 * keyed by 32-byte digests, shared by all workers and kept across reloads. */
struct ea_zone_t;
ea_zone_t *ea_zone_create(ngx_pool_t *pool);
ngx_int_t ea_zone_init(ngx_shm_zone_t *shm_zone, void *data) noexcept;
bool ea_zone_get(ngx_shm_zone_t *zone, const edge_auth::Digest &key,
    std::string *value);
void ea_zone_set(ngx_shm_zone_t *zone, const edge_auth::Digest &key,
    std::string_view value, ngx_msec_t ttl);
void ea_zone_delete(ngx_shm_zone_t *zone, const edge_auth::Digest &key);
/* Adds only when absent (or expired): the cross-worker election primitive. */
bool ea_zone_add(ngx_shm_zone_t *zone, const edge_auth::Digest &key,
    std::string_view value, ngx_msec_t ttl);
std::string_view ea_zone_secret(ngx_shm_zone_t *zone);
/* Metric counters in the zone: found or created by (metric, series key). */
ngx_atomic_t *ea_zone_series(ngx_shm_zone_t *zone, uint32_t metric, std::string_view key);
void ea_zone_each_series(ngx_shm_zone_t *zone,
    const std::function<void(uint32_t, std::string_view, uint64_t)> &visit);
void ea_zone_usage(ngx_shm_zone_t *zone, size_t *size, size_t *free);

/* Helpers to move between nginx strings and std::string_view. */
static inline std::string_view
ea_sv(const ngx_str_t &s)
{
    return std::string_view(reinterpret_cast<const char *>(s.data), s.len);
}

ngx_int_t ea_pstr(ngx_pool_t *pool, std::string_view from, ngx_str_t *to);

#endif /* EDGE_AUTH_NGX_EDGE_AUTH_H */
