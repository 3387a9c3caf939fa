/*
 * RFC 7662 token introspection for the `introspect` method: the bearer token
 * is sent to the introspection endpoint, authenticated as an OAuth client
 * (edge_auth_oauth_client NAME); active answers are cached in the zone until
 * the token's exp or `cache`, inactive ones for `cache`. One request per token
 * at a time in each worker; requests for the same token wait for it.
 *
 *   edge_auth introspect;
 *   edge_auth_introspection https://idp.example/oauth2/introspect client=gateway cache=60s;
 */

#include "ngx/ngx_edge_auth.h"

#include <cstring>
#include <memory>
#include <unordered_map>

#include "core/credentials.h"
#include "core/introspection.h"
#include "core/oauth.h"

struct EaIntrospection {
    std::string url;
    std::string client_name;
    EaOAuthClient *client = nullptr;
    std::string client_key;  /* hex digest of the client's identity and secret */
    int64_t cache_ms = 60'000;
    ngx_str_t file;
    ngx_uint_t line;
};

namespace {

struct Flight {
    EaWaitList waiters;
};

struct DigestHash {
    size_t operator()(const edge_auth::Digest &d) const noexcept
    {
        size_t h;
        std::memcpy(&h, d.data(), sizeof(h));
        return h;
    }
};

/* per worker: introspections in flight, by cache key */
std::unordered_map<edge_auth::Digest, std::unique_ptr<Flight>, DigestHash> ea_flights;

/* The answer being handed to the requests that waited for it. Waking runs
 * each request's phases synchronously, so they read it here, whatever the
 * zone holds (cache=0, an evicted entry). */
struct Delivery {
    edge_auth::Digest key;
    bool ok;
    bool active;
    std::string payload;
};
const Delivery *ea_delivering = nullptr;

}  // namespace


static int64_t
ea_now_ms()
{
    ngx_time_t *tp = ngx_timeofday();
    return static_cast<int64_t>(tp->sec) * 1000 + tp->msec;
}


char *
ea_conf_introspection(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    try {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        if (lcf->introspection != NULL) {
            return const_cast<char *>("is duplicate");
        }
        auto in = std::make_unique<EaIntrospection>();
        std::string_view url = ea_sv(value[1]);
        if (url.substr(0, 8) != "https://" && url.substr(0, 7) != "http://") {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_introspection \"%V\" must be an http(s) URL", &value[1]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        in->url.assign(url);
        for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
            std::string_view arg = ea_sv(value[i]);
            if (arg.substr(0, 7) == "client=" && arg.size() > 7) {
                in->client_name.assign(arg.substr(7));
            } else if (arg.substr(0, 6) == "cache=") {
                ngx_str_t t = {value[i].len - 6, value[i].data + 6};
                ngx_int_t ms = ngx_parse_time(&t, 0);
                if (ms == NGX_ERROR) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "edge_auth_introspection: invalid \"%V\"", &value[i]);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
                in->cache_ms = ms;
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "edge_auth_introspection: invalid parameter \"%V\" "
                                   "(expected client=NAME or cache=TIME)", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        if (in->client_name.empty()) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_introspection needs client=NAME "
                               "(an edge_auth_oauth_client with the endpoint's credentials)");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        in->file = cf->conf_file->file.name;
        in->line = cf->conf_file->line;

        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
        EaIntrospection **slot = static_cast<EaIntrospection **>(
            ngx_array_push(mcf->introspections));
        ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (slot == NULL || cln == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        cln->handler = [](void *data) noexcept { delete static_cast<EaIntrospection *>(data); };
        cln->data = in.get();
        *slot = in.get();
        lcf->introspection = in.release();
        return NGX_CONF_OK;
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


ngx_int_t
ea_introspect_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf)
{
    auto **all = static_cast<EaIntrospection **>(mcf->introspections->elts);
    for (ngx_uint_t i = 0; i < mcf->introspections->nelts; i++) {
        ngx_str_t name;
        name.data = reinterpret_cast<u_char *>(const_cast<char *>(all[i]->client_name.data()));
        name.len = all[i]->client_name.size();
        all[i]->client = ea_oauth_find(mcf, &name);
        if (all[i]->client == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown edge_auth_oauth_client \"%V\" in %V:%ui", &name,
                          &all[i]->file, all[i]->line);
            return NGX_ERROR;
        }
        edge_auth::Digest d = edge_auth::token_cache_key(ea_oauth_config(all[i]->client));
        all[i]->client_key = edge_auth::to_hex(
            std::string_view(reinterpret_cast<const char *>(d.data()), d.size()));
    }
    return NGX_OK;
}


static void
ea_introspected(EaIntrospection *in, edge_auth::Digest key, edge_auth::HttpResponse resp)
{
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_edge_auth_module));
    edge_auth::IntrospectionResult r =
        edge_auth::parse_introspection_response(resp, ea_oauth_config(in->client));

    Delivery delivery{key, r.ok, r.ok && r.active, {}};
    if (r.ok && r.active) {
        int64_t left = r.exp ? *r.exp * 1000 - ea_now_ms() : in->cache_ms;
        if (left <= 0) {
            delivery.active = false;  /* active, but already past its exp */
        } else {
            delivery.payload = r.payload;
            int64_t ttl = std::min<int64_t>(in->cache_ms, left);
            if (ttl > 0) {
                ea_zone_set(mcf->zone, key, "1" + r.payload, static_cast<ngx_msec_t>(ttl));
            }
        }
    } else if (r.ok && in->cache_ms > 0) {
        /* an inactive token never becomes active again */
        ea_zone_set(mcf->zone, key, "0", static_cast<ngx_msec_t>(in->cache_ms));
    }
    if (!r.ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "edge_auth: introspection at \"%s\" failed: %s", in->url.c_str(),
                      r.error.c_str());
    }

    auto it = ea_flights.find(key);
    if (it != ea_flights.end()) {
        std::unique_ptr<Flight> flight = std::move(it->second);
        ea_flights.erase(it);
        ea_delivering = &delivery;
        ea_wait_wake_all(&flight->waiters);
        ea_delivering = nullptr;
    }
}


static ngx_int_t
ea_introspect_answer(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx, bool active,
    std::string_view payload)
{
    if (!active) {
        ctx->status = edge_auth::AuthStatus::InvalidToken;
        ngx_str_set(&ctx->detail, "token not active");
        ctx->bearer_error = 1;
        return NGX_DECLINED;
    }
    auto claims = edge_auth::Claims::from_json(payload);
    if (!claims) {
        ctx->status = edge_auth::AuthStatus::InternalError;
        return NGX_DECLINED;
    }
    return ea_set_claims_and_check(r, lcf, ctx, std::move(*claims));
}


ngx_int_t
ea_introspect_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    std::string_view token)
{
    EaIntrospection *in = lcf->introspection;
    ea_main_conf_t *mcf = ea_main_conf(r);

    if (in == NULL) {
        /* `edge_auth introspect` on a server level, and no location */
        ctx->status = edge_auth::AuthStatus::InvalidToken;
        return NGX_DECLINED;
    }

    if (edge_auth::check_token_syntax(token) != edge_auth::AuthStatus::Ok) {
        ctx->status = edge_auth::AuthStatus::MalformedCredential;
        return NGX_DECLINED;
    }
    /* The answer depends on who asks: the IdP may tell one client a token
     * is active and another that it is not. */
    edge_auth::Digest key = edge_auth::sha256(
        "edge-auth introspect\n" + in->url + "\n" + in->client_key + "\n" + std::string(token));

    if (ea_delivering != nullptr && ea_delivering->key == key && ea_delivering->ok) {
        return ea_introspect_answer(r, lcf, ctx, ea_delivering->active, ea_delivering->payload);
    }
    std::string cached;
    if (ea_zone_get(mcf->zone, key, &cached) && !cached.empty()) {
        return ea_introspect_answer(r, lcf, ctx, cached[0] == '1',
                                    std::string_view(cached).substr(1));
    }

    if (ctx->introspect_waited) {
        ctx->status = edge_auth::AuthStatus::InvalidToken;
        ngx_str_set(&ctx->detail, "introspection unavailable");
        ctx->bearer_error = 1;
        return NGX_DECLINED;
    }

    auto it = ea_flights.find(key);
    if (it == ea_flights.end()) {
        edge_auth::HttpClient *http = ea_http();
        if (http == NULL) {
            return NGX_ERROR;
        }
        const edge_auth::OAuthClientConfig &cfg = ea_oauth_config(in->client);
        auto flight = std::make_unique<Flight>();
        it = ea_flights.emplace(key, std::move(flight)).first;
        edge_auth::HttpOptions opts;
        opts.timeout_ms = cfg.timeout_ms;
        opts.ca_file = cfg.ca_file;
        try {
            http->send(edge_auth::build_introspection_request(in->url, cfg, token), opts,
                       [in, key](edge_auth::HttpResponse resp) {
                           ea_introspected(in, key, std::move(resp));
                       });
        } catch (...) {
            ea_flights.erase(key);
            throw;
        }
    }
    ctx->introspect_waited = 1;
    const edge_auth::OAuthClientConfig &cfg = ea_oauth_config(in->client);
    return ea_wait_park(r, &it->second->waiters, static_cast<ngx_msec_t>(cfg.timeout_ms + 500),
                        &ctx->jwks_timed_out);
}
