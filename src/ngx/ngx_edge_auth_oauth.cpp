/*
 * OAuth2 client credentials for upstream authentication.
 *
 *   edge_auth_oauth_client billing {
 *       token_url     https://idp.example/oauth2/token;
 *       client_id     edge;
 *       client_secret file:/etc/nginx/billing.secret;
 *       scope         "billing.read billing.write";
 *   }
 *   location /billing/ { edge_auth_upstream_oauth billing; proxy_pass ...; }
 *
 * Tokens live in the shared zone, so every worker uses one token. One fetch
 * per token at a time across all workers: a "flight" marker in the zone
 * (added only if absent, with a deadline) elects the worker that fetches;
 * requests in that worker are resumed when the fetch completes, requests in
 * other workers poll the zone every few milliseconds while they wait. A
 * token inside its refresh_before window is still served while one
 * background refresh runs. A 4xx from the IdP is remembered for a few
 * seconds, so a broken client cannot hammer it.
 *
 * Ownership: EaOAuthClient belongs to the configuration (pool cleanup); its
 * runtime part (the fetch in flight, waiters, poll timer) is per worker.
 * A waiter lives in its request's pool; the request is held by
 * r->main->blocked while it waits, so it cannot be freed under us.
 */

#include "ngx/ngx_edge_auth.h"

#include <memory>
#include <new>
#include <random>
#include <vector>

#include "core/aead.h"
#include "core/claims.h"
#include "core/header_value.h"
#include "core/oauth.h"
#include "core/secret_ref.h"

using edge_auth::AccessToken;
using edge_auth::TokenResult;

static const ngx_msec_t ea_poll_interval = 20;
static const int64_t ea_refresh_failure_pause_ms = 5000;
static const ngx_msec_t ea_failed_flight_ttl_ms = 1000;  /* > the poll interval */

struct EaWaiter {
    ngx_http_request_t *request;
    EaOAuthClient *client;
    ngx_event_t timer;
    bool waiting;
};


class NgxScheduler final : public edge_auth::Scheduler {
 public:
    int64_t now_ms() override
    {
        ngx_time_t *tp = ngx_timeofday();
        return static_cast<int64_t>(tp->sec) * 1000 + tp->msec;
    }

    void after(int64_t delay_ms, std::function<void()> fn) override
    {
        auto *t = new Timer{std::move(fn), {}};
        ngx_memzero(&t->ev, sizeof(t->ev));
        t->ev.handler = fire;
        t->ev.data = t;
        t->ev.log = ngx_cycle->log;
        t->ev.cancelable = 1;  /* a retry never holds a worker at shutdown */
        ngx_add_timer(&t->ev, static_cast<ngx_msec_t>(delay_ms < 0 ? 0 : delay_ms));
    }

 private:
    struct Timer {
        std::function<void()> fn;
        ngx_event_t ev;
    };

    static void fire(ngx_event_t *ev) noexcept
    {
        std::unique_ptr<Timer> t(static_cast<Timer *>(ev->data));
        try {
            t->fn();
        } catch (const std::exception &e) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "edge_auth: timer: %s", e.what());
        }
    }
};

static NgxScheduler ea_scheduler;


class EaOAuthClient {
 public:
    edge_auth::OAuthClientConfig cfg;
    std::string ca_file;
    ngx_uint_t on_error = NGX_HTTP_BAD_GATEWAY;
    std::vector<edge_auth::ClaimRule> rules;
    std::vector<std::pair<std::string, std::string>> forward;  /* header, claim */
    edge_auth::Digest key{};       /* the token */
    edge_auth::Digest lock_key{};  /* the flight marker */
    edge_auth::Digest pause_key{}; /* a failed refresh ahead: the next waits */
    edge_auth::Digest neg_key{};   /* a remembered 4xx */
    edge_auth::Digest failed_key{};  /* a flight just failed: its waiters give up */
    ngx_shm_zone_t *zone = nullptr;

    bool store_redis = false;
    ngx_str_t store_file{};      /* where "store redis" was written, for errors */
    ngx_uint_t store_line = 0;
    std::string redis_key;       /* prefix + "token:" + hex */
    std::string redis_lock;      /* prefix + "lock:" + hex */
    std::string seal_key;        /* derived from edge_auth_session_secret, or empty */

    /* per worker, after fork */
    bool flight = false;         /* this worker runs the flight */
    bool flight_background = false;
    bool redis_lock_held = false;
    int last_attempts = 0;
    int64_t flight_deadline = 0;
    ngx_event_t redis_poll{};
    std::unique_ptr<edge_auth::TokenFetch> fetch;
    std::vector<EaWaiter *> waiters;
    ngx_event_t poll{};
    EaCounter fetched_ok, fetch_failed, cache_hit, cache_miss, refresh_ahead;

    void count(EaCounter &c, edge_auth::Metric metric, std::string_view result)
    {
        ea_count(c, metric, {cfg.name, result});
    }

    ~EaOAuthClient()
    {
        if (poll.timer_set) {
            ngx_del_timer(&poll);
        }
        if (redis_poll.timer_set) {
            ngx_del_timer(&redis_poll);
        }
    }

    void derive_keys()
    {
        key = edge_auth::token_cache_key(cfg);
        std::string k(reinterpret_cast<const char *>(key.data()), key.size());
        lock_key = edge_auth::sha256("edge-auth oauth flight\n" + k);
        pause_key = edge_auth::sha256("edge-auth oauth refresh paused\n" + k);
        neg_key = edge_auth::sha256("edge-auth oauth failure\n" + k);
        failed_key = edge_auth::sha256("edge-auth oauth flight failed\n" + k);
    }
};


/* ---- configuration ------------------------------------------------------ */

static void
ea_oauth_client_cleanup(void *data) noexcept
{
    delete static_cast<EaOAuthClient *>(data);
}


static char *
ea_oauth_error(ngx_conf_t *cf, const char *fmt, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, fmt, arg);
    return static_cast<char *>(NGX_CONF_ERROR);
}


bool
ea_conf_ref(ngx_conf_t *cf, ngx_str_t *arg, std::string *out)
{
    edge_auth::Result<std::string> v = ea_conf_secret(cf, ea_sv(*arg));
    if (!v) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", v.error().c_str());
        return false;
    }
    *out = std::move(*v);
    return true;
}


/* A line inside a block ({ ... }) with min..max arguments after its name. */
bool
ea_conf_nargs(ngx_conf_t *cf, ngx_uint_t min, ngx_uint_t max)
{
    ngx_str_t *v = static_cast<ngx_str_t *>(cf->args->elts);
    ngx_uint_t n = cf->args->nelts - 1;
    if (n < min || n > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid number of arguments in \"%V\"", &v[0]);
        return false;
    }
    return true;
}


bool
ea_conf_msec(ngx_conf_t *cf, ngx_str_t *arg, int64_t *out)
{
    ngx_int_t ms = ngx_parse_time(arg, 0);
    if (ms == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid time \"%V\"", arg);
        return false;
    }
    *out = ms;
    return true;
}


/* One line inside edge_auth_oauth_client { ... }. */
static char *
ea_oauth_param(ngx_conf_t *cf, ngx_command_t *dummy, void *conf) noexcept
{
    try {
        EaOAuthClient *client = static_cast<EaOAuthClient *>(conf);
        edge_auth::OAuthClientConfig &c = client->cfg;
        ngx_str_t *v = static_cast<ngx_str_t *>(cf->args->elts);
        ngx_uint_t n = cf->args->nelts;
        std::string_view name = ea_sv(v[0]);

        auto want = [cf](ngx_uint_t min, ngx_uint_t max) { return ea_conf_nargs(cf, min, max); };

        if (name == "token_url") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            std::string_view url = ea_sv(v[1]);
            if (url.substr(0, 8) != "https://" && url.substr(0, 7) != "http://") {
                return ea_oauth_error(cf, "token_url \"%V\" must be an http(s) URL", &v[1]);
            }
            c.token_url.assign(url);
        } else if (name == "client_id") {
            if (!want(1, 1) || !ea_conf_ref(cf, &v[1], &c.client_id))
                return static_cast<char *>(NGX_CONF_ERROR);
        } else if (name == "client_secret") {
            if (!want(1, 1) || !ea_conf_ref(cf, &v[1], &c.client_secret))
                return static_cast<char *>(NGX_CONF_ERROR);
        } else if (name == "auth_method") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            if (ea_sv(v[1]) == "client_secret_basic") {
                c.auth_method = edge_auth::ClientAuthMethod::ClientSecretBasic;
            } else if (ea_sv(v[1]) == "client_secret_post") {
                c.auth_method = edge_auth::ClientAuthMethod::ClientSecretPost;
            } else {
                return ea_oauth_error(cf, "invalid auth_method \"%V\" (expected "
                                      "client_secret_basic or client_secret_post)", &v[1]);
            }
        } else if (name == "scope") {
            if (!want(1, 64)) return static_cast<char *>(NGX_CONF_ERROR);
            c.scope.clear();
            for (ngx_uint_t i = 1; i < n; i++) {
                if (!c.scope.empty()) c.scope += ' ';
                c.scope += ea_sv(v[i]);
            }
        } else if (name == "audience") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            c.audience.assign(ea_sv(v[1]));
        } else if (name == "resource") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            c.resource.assign(ea_sv(v[1]));
        } else if (name == "param") {
            if (!want(2, 2)) return static_cast<char *>(NGX_CONF_ERROR);
            std::string value;
            if (!ea_conf_ref(cf, &v[2], &value)) return static_cast<char *>(NGX_CONF_ERROR);
            c.params.emplace_back(std::string(ea_sv(v[1])), std::move(value));
        } else if (name == "refresh_before") {
            if (!want(1, 1) || !ea_conf_msec(cf, &v[1], &c.refresh_before_ms))
                return static_cast<char *>(NGX_CONF_ERROR);
        } else if (name == "timeout") {
            if (!want(1, 1) || !ea_conf_msec(cf, &v[1], &c.timeout_ms))
                return static_cast<char *>(NGX_CONF_ERROR);
            if (c.timeout_ms <= 0) return ea_oauth_error(cf, "invalid timeout \"%V\"", &v[1]);
        } else if (name == "retries") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            ngx_int_t r = ngx_atoi(v[1].data, v[1].len);
            if (r == NGX_ERROR || r > 10) {
                return ea_oauth_error(cf, "invalid retries \"%V\" (0 to 10)", &v[1]);
            }
            c.retries = static_cast<int>(r);
        } else if (name == "require") {
            if (!want(2, 3)) return static_cast<char *>(NGX_CONF_ERROR);
            auto rule = edge_auth::ClaimRule::parse(ea_sv(v[1]), ea_sv(v[2]),
                                                    n == 4 ? ea_sv(v[3]) : "");
            if (!rule) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid require: %s",
                                   rule.error().c_str());
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            client->rules.push_back(*rule);
        } else if (name == "forward_claim") {
            if (!want(2, 2)) return static_cast<char *>(NGX_CONF_ERROR);
            if (!edge_auth::is_header_name(ea_sv(v[1]))) {
                return ea_oauth_error(cf, "invalid header name \"%V\"", &v[1]);
            }
            client->forward.emplace_back(std::string(ea_sv(v[1])), std::string(ea_sv(v[2])));
        } else if (name == "store") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            client->store_redis = ea_sv(v[1]) == "redis";
            client->store_file = cf->conf_file->file.name;
            client->store_line = cf->conf_file->line;
            if (!client->store_redis && ea_sv(v[1]) != "shm") {
                return ea_oauth_error(cf, "invalid store \"%V\" (expected shm or redis)", &v[1]);
            }
        } else if (name == "ca_file") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            ngx_str_t path = v[1];
            if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            client->ca_file.assign(ea_sv(path));
            c.ca_file = client->ca_file;
            if (access(client->ca_file.c_str(), R_OK) != 0) {
                return ea_oauth_error(cf, "cannot read ca_file \"%V\"", &path);
            }
        } else if (name == "on_error") {
            if (!want(1, 1)) return static_cast<char *>(NGX_CONF_ERROR);
            ngx_int_t s = ngx_atoi(v[1].data, v[1].len);
            if (s < 400 || s > 599) {
                return ea_oauth_error(cf, "invalid on_error status \"%V\" (400 to 599)", &v[1]);
            }
            client->on_error = s;
        } else {
            return ea_oauth_error(cf, "unknown edge_auth_oauth_client parameter \"%V\"", &v[0]);
        }
        return NGX_CONF_OK;
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


char *
ea_conf_oauth_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    try {
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

        if (ea_oauth_find(mcf, &value[1]) != NULL) {
            return ea_oauth_error(cf, "duplicate edge_auth_oauth_client \"%V\"", &value[1]);
        }

        auto owned = std::make_unique<EaOAuthClient>();
        EaOAuthClient *client = owned.get();
        client->cfg.name.assign(ea_sv(value[1]));

        ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
        EaOAuthClient **slot = static_cast<EaOAuthClient **>(
            ngx_array_push(mcf->oauth_clients));
        if (cln == NULL || slot == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        cln->handler = ea_oauth_client_cleanup;
        cln->data = owned.release();
        *slot = client;

        /* the block's own directives reuse cf->args: keep the name (a
         * later error would otherwise print the last argument, a secret) */
        ngx_str_t name = value[1];
        ngx_conf_t save = *cf;
        cf->handler = ea_oauth_param;
        cf->handler_conf = reinterpret_cast<char *>(client);
        char *rv = ngx_conf_parse(cf, NULL);
        *cf = save;
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (client->cfg.token_url.empty() || client->cfg.client_id.empty()) {
            return ea_oauth_error(cf, "edge_auth_oauth_client \"%V\" needs token_url "
                                  "and client_id", &name);
        }
        client->derive_keys();
        return NGX_CONF_OK;
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


EaOAuthClient *
ea_oauth_find(ea_main_conf_t *mcf, ngx_str_t *name)
{
    EaOAuthClient **clients = static_cast<EaOAuthClient **>(mcf->oauth_clients->elts);
    for (ngx_uint_t i = 0; i < mcf->oauth_clients->nelts; i++) {
        if (clients[i]->cfg.name == ea_sv(*name)) {
            return clients[i];
        }
    }
    return NULL;
}


ngx_int_t
ea_oauth_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf)
{
    EaOAuthClient **clients = static_cast<EaOAuthClient **>(mcf->oauth_clients->elts);
    for (ngx_uint_t i = 0; i < mcf->oauth_clients->nelts; i++) {
        EaOAuthClient *client = clients[i];
        client->zone = mcf->zone;
        if (!client->store_redis) {
            continue;
        }
        if (mcf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "edge_auth_oauth_client \"%s\" uses \"store redis\" "
                          "but there is no edge_auth_redis in %V:%ui",
                          client->cfg.name.c_str(), &client->store_file, client->store_line);
            return NGX_ERROR;
        }
        if (mcf->session_secret == NULL) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "edge_auth_oauth_client \"%s\": tokens are stored in redis "
                          "unencrypted; set edge_auth_session_secret in %V:%ui",
                          client->cfg.name.c_str(), &client->store_file, client->store_line);
        }
        std::string hex = edge_auth::to_hex(std::string_view(
            reinterpret_cast<const char *>(client->key.data()), client->key.size()));
        client->redis_key = mcf->redis->prefix + "token:" + hex;
        client->redis_lock = mcf->redis->prefix + "lock:" + hex;
        if (mcf->session_secret != NULL) {
            client->seal_key = edge_auth::derive_key(*mcf->session_secret,
                                                     "edge-auth redis tokens v1");
        }
    }
    return NGX_OK;
}


ngx_uint_t
ea_oauth_on_error(EaOAuthClient *client)
{
    return client->on_error;
}


const edge_auth::OAuthClientConfig &
ea_oauth_config(EaOAuthClient *client)
{
    return client->cfg;
}

/* ---- runtime ------------------------------------------------------------ */

static int64_t
ea_now_ms()
{
    return ea_scheduler.now_ms();
}


/* Resumes every request of this worker waiting for the client's token. */
static void
ea_wake_all(EaOAuthClient *client)
{
    if (client->poll.timer_set) {
        ngx_del_timer(&client->poll);
    }
    std::vector<EaWaiter *> waiters;
    waiters.swap(client->waiters);  /* resumed requests may wait again */

    for (EaWaiter *w : waiters) {
        ngx_http_request_t *r = w->request;
        ngx_connection_t *c = r->connection;
        w->waiting = false;
        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }
        if (ea_ctx_t *ctx = ea_get_ctx(r)) {
            ctx->parked = 0;
        }
        r->main->blocked--;
        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
    }
}


static std::string
ea_redis_value(EaOAuthClient *client, const AccessToken &token)
{
    std::string plain = edge_auth::serialize_token(token);
    if (client->seal_key.empty()) {
        return plain;
    }
    std::string sealed = edge_auth::seal(client->seal_key, plain, client->redis_key);
    edge_auth::wipe(plain);
    return sealed;
}


static std::optional<AccessToken>
ea_redis_token(EaOAuthClient *client, const std::string &value)
{
    if (client->seal_key.empty()) {
        return edge_auth::deserialize_token(value);
    }
    edge_auth::Result<std::string> plain =
        edge_auth::open(client->seal_key, value, client->redis_key);
    if (!plain) {
        /* another secret, or tampered: ignore it, and say so, since nodes
         * with different secrets would keep replacing each other's token */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "edge_auth: oauth client \"%s\": the token in redis cannot be "
                      "decrypted (is edge_auth_session_secret the same on every node?)",
                      client->cfg.name.c_str());
        return std::nullopt;
    }
    std::optional<AccessToken> t = edge_auth::deserialize_token(*plain);
    edge_auth::wipe(*plain);
    return t;
}


static void ea_flight_fetch(EaOAuthClient *client);


/* Redis may take at most this long per command during a flight, so that a
 * slow Redis leaves time to ask the IdP within the client's timeout. */
static ngx_msec_t
ea_redis_budget(EaOAuthClient *client)
{
    return static_cast<ngx_msec_t>(std::max<int64_t>(client->cfg.timeout_ms / 4, 20));
}


/* The end of a flight: the token goes to the zone (and Redis), the marker is
 * released, and this worker's waiters are resumed. */
static void
ea_flight_done(EaOAuthClient *client, TokenResult result, bool from_redis)
{
    const edge_auth::OAuthClientConfig &cfg = client->cfg;
    bool background = client->flight_background;
    int64_t now = ea_now_ms();

    if (result.ok && !client->rules.empty()) {
        auto claims = edge_auth::Claims::from_jwt_payload(result.token.value);
        for (const edge_auth::ClaimRule &rule : client->rules) {
            if (!claims || !rule.holds(*claims)) {
                result.ok = false;
                result.error = edge_auth::TokenError{};
                result.error.error = "require";
                result.error.description = "the token fails \"" + rule.describe() + "\"";
                break;
            }
        }
    }

    if (!from_redis) {
        if (result.ok) {
            client->count(client->fetched_ok, edge_auth::Metric::TokenFetches, "ok");
        } else {
            client->count(client->fetch_failed, edge_auth::Metric::TokenFetches, "error");
        }
    }
    if (result.ok) {
        int64_t ttl = result.token.expires_ms - now;
        if (ttl > 0) {
            ea_zone_set(client->zone, client->key, edge_auth::serialize_token(result.token),
                        static_cast<ngx_msec_t>(ttl));
            if (client->store_redis && !from_redis) {
                ea_redis_command({"SET", client->redis_key, ea_redis_value(client, result.token),
                                  "PX", std::to_string(ttl)}, nullptr);
            }
        }
        ea_zone_delete(client->zone, client->neg_key);
        ea_zone_delete(client->zone, client->failed_key);
        ea_zone_delete(client->zone, client->pause_key);
        ea_zone_delete(client->zone, client->lock_key);
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "edge_auth: oauth client \"%s\": token %s%s, expires in %Ls",
                      cfg.name.c_str(), background ? "refreshed" : "fetched",
                      from_redis ? " from redis" : "", static_cast<int64_t>(ttl / 1000));
    } else {
        std::string summary = result.error.summary();
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "edge_auth: oauth client \"%s\": token request to \"%s\" failed: "
                      "%s (attempts: %d)", cfg.name.c_str(), cfg.token_url.c_str(),
                      summary.c_str(), client->last_attempts);
        if (!result.error.retryable) {
            ea_zone_set(client->zone, client->neg_key, summary,
                        static_cast<ngx_msec_t>(cfg.negative_ttl_ms));
        } else if (!background) {
            /* the requests other workers parked for this flight give up
             * now, instead of flying again to the failing IdP; a request
             * that comes later tries again */
            ea_zone_set(client->zone, client->failed_key, "1", ea_failed_flight_ttl_ms);
        }
        if (background) {
            /* the current token stays in use; refresh again a little later.
             * A marker of its own, not the flight marker: once the token
             * expires, a request must be able to fetch at once (the flight
             * marker held it off until the pause ended, past its timeout) */
            ea_zone_set(client->zone, client->pause_key, "1",
                        static_cast<ngx_msec_t>(ea_refresh_failure_pause_ms));
        }
        ea_zone_delete(client->zone, client->lock_key);
    }

    if (client->redis_lock_held) {
        ea_redis_command({"DEL", client->redis_lock}, nullptr);
        client->redis_lock_held = false;
    }
    if (client->redis_poll.timer_set) {
        ngx_del_timer(&client->redis_poll);
    }
    client->flight = false;
    ea_wake_all(client);
}


/* Asks the IdP. */
static void
ea_flight_fetch(EaOAuthClient *client)
{
    edge_auth::HttpClient *http = ea_http();
    if (http == NULL) {
        TokenResult failed;
        failed.error.error = "internal";
        failed.error.description = "no outbound HTTP worker";
        ea_flight_done(client, std::move(failed), false);
        return;
    }
    client->fetch = std::make_unique<edge_auth::TokenFetch>(client->cfg, *http, ea_scheduler);
    try {
        client->fetch->start([client](TokenResult result) {
            /* Owned here until the end of this callback: waking the waiters
             * may start the next flight, which sets client->fetch again. */
            std::unique_ptr<edge_auth::TokenFetch> self = std::move(client->fetch);
            client->last_attempts = self->attempts();
            ea_flight_done(client, std::move(result), false);
        });
    } catch (const std::exception &e) {
        /* the request could not even be started: end the flight now */
        client->fetch.reset();
        TokenResult failed;
        failed.error.error = "internal";
        failed.error.description = e.what();
        client->last_attempts = 0;
        ea_flight_done(client, std::move(failed), false);
    }
}


/* Another node holds the Redis lock: look for its token now and then. */
static void
ea_redis_poll_handler(ngx_event_t *ev) noexcept
{
    EaOAuthClient *client = static_cast<EaOAuthClient *>(ev->data);
    if (!client->flight) {
        return;
    }
    ea_redis_command({"GET", client->redis_key}, [client](ea_redis_reply_t reply) {
        if (!client->flight || client->fetch) {
            return;
        }
        if (reply.ok && reply.value) {
            std::optional<AccessToken> t = ea_redis_token(client, *reply.value);
            if (t && t->expires_ms > ea_now_ms()) {
                TokenResult r;
                r.ok = true;
                r.token = std::move(*t);
                ea_flight_done(client, std::move(r), true);
                return;
            }
        }
        if (!reply.ok || ea_now_ms() >= client->flight_deadline) {
            ea_flight_fetch(client);  /* Redis gone or the other node too slow */
            return;
        }
        ngx_add_timer(&client->redis_poll, 50);
    }, ea_redis_budget(client));
}


/* A fresh token found in Redis ends the flight; true when it did. */
static bool
ea_flight_from_redis(EaOAuthClient *client, const ea_redis_reply_t &reply)
{
    if (!reply.ok || !reply.value) {
        return false;
    }
    std::optional<AccessToken> t = ea_redis_token(client, *reply.value);
    if (!t || edge_auth::freshness(*t, ea_now_ms(), client->cfg.refresh_before_ms)
                  != edge_auth::Freshness::Fresh)
    {
        return false;
    }
    TokenResult r;
    r.ok = true;
    r.token = std::move(*t);
    ea_flight_done(client, std::move(r), true);
    return true;
}


/* The Redis part of a flight: a token another node fetched, else the
 * cross-node lock, else wait for the node that holds it. */
static void
ea_flight_redis(EaOAuthClient *client)
{
    ea_redis_command({"GET", client->redis_key}, [client](ea_redis_reply_t reply) {
        if (!reply.ok) {
            ea_flight_fetch(client);  /* degrade to the zone alone */
            return;
        }
        if (ea_flight_from_redis(client, reply)) {
            return;
        }
        const edge_auth::OAuthClientConfig &cfg = client->cfg;
        int64_t budget = cfg.timeout_ms * (cfg.retries + 1) + 1000;
        ea_redis_command({"SET", client->redis_lock, std::to_string(ngx_pid), "NX", "PX",
                          std::to_string(budget)},
                         [client](ea_redis_reply_t lock) {
            if (!lock.ok) {
                ea_flight_fetch(client);
                return;
            }
            if (lock.value && *lock.value == "OK") {
                /* Another node may have stored its token and released the
                 * lock between our GET and our SET: look once more. */
                client->redis_lock_held = true;
                ea_redis_command({"GET", client->redis_key}, [client](ea_redis_reply_t again) {
                    if (!ea_flight_from_redis(client, again)) {
                        ea_flight_fetch(client);
                    }
                }, ea_redis_budget(client));
                return;
            }
            client->redis_poll.handler = ea_redis_poll_handler;
            client->redis_poll.data = client;
            client->redis_poll.log = ngx_cycle->log;
            client->redis_poll.cancelable = 1;
            ngx_add_timer(&client->redis_poll, 50);
        }, ea_redis_budget(client));
    }, ea_redis_budget(client));
}


/* Starts a flight when no worker of this node has one for this token. */
static bool
ea_start_flight(EaOAuthClient *client, bool background)
{
    if (client->flight) {
        return true;  /* this worker's flight is under way */
    }
    if (background && ea_zone_get(client->zone, client->pause_key, NULL)) {
        return false;  /* a refresh ahead failed a moment ago */
    }
    const edge_auth::OAuthClientConfig &cfg = client->cfg;
    int64_t budget = cfg.timeout_ms * (cfg.retries + 1) + 5000 * cfg.retries + 1000;
    if (!ea_zone_add(client->zone, client->lock_key, std::to_string(ngx_pid),
                     static_cast<ngx_msec_t>(budget)))
    {
        return false;  /* another worker flies; waiters poll the zone */
    }
    client->flight = true;
    client->flight_background = background;
    if (background) {
        client->count(client->refresh_ahead, edge_auth::Metric::TokenCache, "refresh_ahead");
    }
    /* waiting for another node's token: at most half the client's timeout,
     * so that a node that died holding the Redis lock costs no request */
    client->flight_deadline = ea_now_ms() + cfg.timeout_ms / 2;
    if (client->store_redis && ea_redis_enabled()) {
        ea_flight_redis(client);
    } else {
        ea_flight_fetch(client);
    }
    return true;
}


/* A flight marker holds the owner's pid. */
static bool
ea_owner_died(const std::string &owner)
{
    ngx_int_t pid = ngx_atoi(reinterpret_cast<u_char *>(const_cast<char *>(owner.data())),
                             owner.size());
    if (pid == NGX_ERROR || pid <= 0 || pid == ngx_pid) {
        return false;
    }
    return kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}


/* Waiters of a flight owned by another worker look at the zone. */
static void
ea_poll_handler(ngx_event_t *ev) noexcept
{
    EaOAuthClient *client = static_cast<EaOAuthClient *>(ev->data);
    try {
        if (client->waiters.empty()) {
            return;
        }
        if (client->flight) {
            return;  /* this worker flies now; its completion wakes them */
        }
        if (ea_zone_get(client->zone, client->key, NULL)) {
            ea_wake_all(client);
            return;
        }
        std::string owner;
        bool in_flight = ea_zone_get(client->zone, client->lock_key, &owner);
        if (in_flight && ea_owner_died(owner)) {
            /* its worker crashed mid-flight: the marker would otherwise
             * hold everyone off until it expires */
            ea_zone_delete(client->zone, client->lock_key);
            in_flight = false;
        }
        if (!in_flight) {
            /* the other worker finished without a token (its failure is
             * theirs too), or died (then fly) */
            if (!ea_zone_get(client->zone, client->neg_key, NULL)
                && !ea_zone_get(client->zone, client->failed_key, NULL)
                && ea_start_flight(client, false))
            {
                return;
            }
            ea_wake_all(client);
            return;
        }
        ngx_add_timer(&client->poll, ea_poll_interval);
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "edge_auth: %s", e.what());
        ea_wake_all(client);
    }
}


static void
ea_waiter_timeout(ngx_event_t *ev) noexcept
{
    EaWaiter *w = static_cast<EaWaiter *>(ev->data);
    EaOAuthClient *client = w->client;
    ngx_http_request_t *r = w->request;
    ngx_connection_t *c = r->connection;

    for (auto it = client->waiters.begin(); it != client->waiters.end(); ++it) {
        if (*it == w) {
            client->waiters.erase(it);
            break;
        }
    }
    w->waiting = false;
    if (ea_ctx_t *ctx = ea_get_ctx(r)) {
        ctx->oauth_timed_out = 1;
        ctx->parked = 0;
    }
    r->main->blocked--;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ea_park(ngx_http_request_t *r, EaOAuthClient *client, ea_ctx_t *ctx)
{
    EaWaiter *w = static_cast<EaWaiter *>(ngx_pcalloc(r->pool, sizeof(EaWaiter)));
    if (w == NULL) {
        return NGX_ERROR;
    }
    w->request = r;
    w->client = client;
    w->waiting = true;
    w->timer.handler = ea_waiter_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;
    ngx_add_timer(&w->timer, static_cast<ngx_msec_t>(client->cfg.timeout_ms));

    client->waiters.push_back(w);
    if (!client->flight && !client->poll.timer_set) {
        client->poll.handler = ea_poll_handler;
        client->poll.data = client;
        client->poll.log = ngx_cycle->log;
        client->poll.cancelable = 1;
        ngx_add_timer(&client->poll, ea_poll_interval);
    }

    ctx->oauth_waited = client;
    ctx->parked = 1;
    r->main->blocked++;
    /* notice a client that goes away while it waits (499, not a late 502) */
    r->read_event_handler = ngx_http_test_reading;
    return NGX_AGAIN;
}


ngx_int_t
ea_oauth_token(ngx_http_request_t *r, EaOAuthClient *client, ea_ctx_t *ctx,
    std::string *token)
{
    if (ctx->parked) {
        /* the phase ran again while we wait (a write event on the client
         * connection, e.g. EPOLLOUT reported with the next request of a
         * kept-alive connection): keep waiting; a wake-up clears parked */
        return NGX_AGAIN;
    }

    int64_t now = ea_now_ms();
    std::string data;

    if (ea_zone_get(client->zone, client->key, &data)) {
        std::optional<AccessToken> t = edge_auth::deserialize_token(data);
        if (t) {
            edge_auth::Freshness f =
                edge_auth::freshness(*t, now, client->cfg.refresh_before_ms);
            if (f != edge_auth::Freshness::Expired) {
                if (f == edge_auth::Freshness::RefreshAhead) {
                    ea_start_flight(client, true);
                }
                if (ctx->oauth_waited != client) {  /* a waiter counted its miss */
                    client->count(client->cache_hit, edge_auth::Metric::TokenCache, "hit");
                }
                *token = std::move(t->value);
                return NGX_OK;
            }
        }
    }

    std::string failure;
    if (ea_zone_get(client->zone, client->neg_key, &failure)) {
        client->count(client->cache_miss, edge_auth::Metric::TokenCache, "miss");
        ea_log(r, NGX_LOG_INFO, "edge_auth: oauth client \"%s\": no token (recent "
               "failure: %s)", client->cfg.name.c_str(), failure.c_str());
        return NGX_DECLINED;
    }
    if (ctx->oauth_waited == client) {
        /* woken up or timed out, and still nothing */
        if (ctx->oauth_timed_out) {
            ea_log(r, NGX_LOG_ERR, "edge_auth: oauth client \"%s\": no token within %Lms",
                   client->cfg.name.c_str(), client->cfg.timeout_ms);
        } else {
            ea_log(r, NGX_LOG_ERR, "edge_auth: oauth client \"%s\": no token: the token "
                   "request failed", client->cfg.name.c_str());
        }
        return NGX_DECLINED;
    }

    client->count(client->cache_miss, edge_auth::Metric::TokenCache, "miss");
    ea_start_flight(client, false);
    return ea_park(r, client, ctx);
}


/* Sends claims of the client's token upstream (forward_claim). */
ngx_int_t
ea_oauth_forward_claims(ngx_http_request_t *r, EaOAuthClient *client,
    std::string_view token)
{
    if (client->forward.empty()) {
        return NGX_OK;
    }
    auto claims = edge_auth::Claims::from_jwt_payload(token);
    for (const auto &[header, claim] : client->forward) {
        std::optional<std::string> value;
        if (claims) {
            value = claims->get(claim);
        }
        ngx_str_t name, lowcase, v;
        if (ea_pstr(r->pool, header, &name) != NGX_OK
            || ea_pstr(r->pool, header, &lowcase) != NGX_OK)
        {
            return NGX_ERROR;
        }
        ngx_strlow(lowcase.data, lowcase.data, lowcase.len);
        if (!value) {
            ea_remove_header_in(r, &lowcase);
            continue;
        }
        if (!edge_auth::is_safe_header_value(*value) || ea_pstr(r->pool, *value, &v) != NGX_OK) {
            return NGX_ERROR;
        }
        if (ea_set_header_in(r, &name, &lowcase, ngx_hash_key(lowcase.data, lowcase.len),
                             &v) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }
    return NGX_OK;
}


/* The backend refused the token we sent: drop it (if it is still the one
 * cached), so the next request fetches a new one. */
void
ea_oauth_rejected(ngx_http_request_t *r, EaOAuthClient *client,
    std::string_view sent)
{
    std::string data;
    if (!ea_zone_get(client->zone, client->key, &data)) {
        return;
    }
    std::optional<AccessToken> t = edge_auth::deserialize_token(data);
    if (t && edge_auth::constant_time_equal(t->value, sent)) {
        ea_zone_delete(client->zone, client->key);
        ea_log(r, NGX_LOG_WARN, "edge_auth: oauth client \"%s\": the upstream answered "
               "401; the cached token was dropped", client->cfg.name.c_str());
    }
}
