/*
 * JWKS documents fetched from URLs (edge_auth_jwt_keys https://...): one
 * fetch at a time across workers (a flight marker in the zone), the document
 * kept in the zone and used while fresh (`ttl`, or the response's
 * Cache-Control max-age), refreshed in the background when stale, refetched
 * when a token names an unknown `kid` but at most once per `refresh_min`,
 * and the last good document kept when a fetch fails. Each worker parses a
 * document once (importing keys is expensive) and reuses it until the
 * document changes.
 *
 *   std::shared_ptr<const edge_auth::KeySet> keys;
 *   rc = ea_jwks_get(r, source, &ctx->jwks_timed_out, &keys);  // NGX_OK / NGX_AGAIN / NGX_DECLINED
 *
 * Ownership: EaJwksSource belongs to the configuration and is shared by
 * every location naming the same URL; its runtime part is per worker.
 */

#include "ngx/ngx_edge_auth.h"

#include <cstring>
#include <memory>

#include "core/http.h"

static const int64_t ea_jwks_keep_ms = 24LL * 3600 * 1000;  /* last good document */
static const int64_t ea_jwks_retry_ms = 5000;               /* after a failed fetch */


class EaJwksSource {
 public:
    std::string url;
    int64_t ttl_ms = 300'000;
    int64_t refresh_min_ms = 10'000;
    std::string ca_file;
    int64_t timeout_ms = 5'000;
    ngx_shm_zone_t *zone = nullptr;

    edge_auth::Digest doc_key{};      /* the document (long-lived, last good) */
    edge_auth::Digest version_key{};  /* SHA-256 of the document: cheap to read */
    edge_auth::Digest fresh_key{};    /* present while the document is fresh */
    edge_auth::Digest lock_key{};     /* a fetch is in flight */
    edge_auth::Digest refetch_key{};  /* an unknown-kid refetch happened recently */

    /* per worker */
    bool flight = false;
    EaWaitList waiters;
    EaCounter fetched_ok;
    EaCounter fetch_failed;
    edge_auth::Digest parsed_digest{};
    std::shared_ptr<const edge_auth::KeySet> parsed;

    void derive_keys()
    {
        doc_key = edge_auth::sha256("edge-auth jwks doc\n" + url);
        version_key = edge_auth::sha256("edge-auth jwks version\n" + url);
        fresh_key = edge_auth::sha256("edge-auth jwks fresh\n" + url);
        lock_key = edge_auth::sha256("edge-auth jwks flight\n" + url);
        refetch_key = edge_auth::sha256("edge-auth jwks refetch\n" + url);
    }
};


/* max-age from Cache-Control, or -1. */
static int64_t
ea_max_age_ms(const std::string &cache_control)
{
    size_t at = cache_control.find("max-age=");
    if (at == std::string::npos) {
        return -1;
    }
    int64_t v = 0;
    size_t i = at + 8;
    if (i >= cache_control.size() || !isdigit(static_cast<unsigned char>(cache_control[i]))) {
        return -1;
    }
    for (; i < cache_control.size() && isdigit(static_cast<unsigned char>(cache_control[i]));
         i++)
    {
        v = v * 10 + (cache_control[i] - '0');
        if (v > 86400 * 7) {
            v = 86400 * 7;
            break;
        }
    }
    return v * 1000;
}


static void
ea_jwks_fetched(EaJwksSource *src, edge_auth::HttpResponse resp)
{
    std::string error;
    if (resp.ok()) {
        auto keys = ea_jwks_parse(resp.body, &error);
        if (keys) {
            int64_t fresh = ea_max_age_ms(resp.cache_control);
            if (fresh <= 0) {
                fresh = src->ttl_ms;
            }
            edge_auth::Digest version = edge_auth::sha256(resp.body);
            ea_zone_set(src->zone, src->doc_key, resp.body,
                        static_cast<ngx_msec_t>(ea_jwks_keep_ms));
            ea_zone_set(src->zone, src->version_key,
                        std::string_view(reinterpret_cast<const char *>(version.data()),
                                         version.size()),
                        static_cast<ngx_msec_t>(ea_jwks_keep_ms));
            ea_zone_set(src->zone, src->fresh_key, "1", static_cast<ngx_msec_t>(fresh));
            ea_zone_delete(src->zone, src->lock_key);
            src->parsed = std::move(keys);
            src->parsed_digest = edge_auth::sha256(resp.body);
            ea_count(src->fetched_ok, edge_auth::Metric::JwksFetches,
                     {edge_auth::url_label(src->url), "ok"});
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "edge_auth: jwks \"%s\" fetched, fresh for %Ls",
                          src->url.c_str(), static_cast<int64_t>(fresh / 1000));
            src->flight = false;
            ea_wait_wake_all(&src->waiters);
            return;
        }
    } else if (resp.status == 0) {
        error = resp.error;
    } else {
        error = "HTTP " + std::to_string(resp.status);
    }

    ea_count(src->fetch_failed, edge_auth::Metric::JwksFetches,
             {edge_auth::url_label(src->url), "error"});
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "edge_auth: jwks \"%s\" fetch failed: %s%s", src->url.c_str(),
                  error.c_str(), ea_zone_get(src->zone, src->doc_key, NULL)
                                     ? "; the last good keys stay in use" : "");
    /* hold the marker a little: no worker refetches before then */
    ea_zone_set(src->zone, src->lock_key, "failed", static_cast<ngx_msec_t>(ea_jwks_retry_ms));
    src->flight = false;
    ea_wait_wake_all(&src->waiters);
}


static bool
ea_jwks_start(EaJwksSource *src)
{
    if (src->flight) {
        return true;
    }
    if (!ea_zone_add(src->zone, src->lock_key, std::to_string(ngx_pid),
                     static_cast<ngx_msec_t>(src->timeout_ms + 1000)))
    {
        return false;
    }
    edge_auth::HttpClient *http = ea_http();
    if (http == NULL) {
        ea_zone_delete(src->zone, src->lock_key);
        return false;
    }
    src->flight = true;
    edge_auth::HttpRequest req;
    req.method = "GET";
    req.url = src->url;
    req.headers.emplace_back("Accept", "application/jwk-set+json, application/json");
    edge_auth::HttpOptions opts;
    opts.timeout_ms = src->timeout_ms;
    opts.ca_file = src->ca_file;
    try {
        http->send(std::move(req), opts, [src](edge_auth::HttpResponse resp) {
            ea_jwks_fetched(src, std::move(resp));
        });
    } catch (const std::exception &e) {
        edge_auth::HttpResponse failed;
        failed.error = e.what();
        ea_jwks_fetched(src, std::move(failed));
    }
    return true;
}


/* This worker's parsed copy of the zone's document. */
bool
ea_jwks_version(EaJwksSource *src, edge_auth::Digest *version)
{
    std::string v;
    if (!ea_zone_get(src->zone, src->version_key, &v) || v.size() != version->size()) {
        return false;
    }
    std::memcpy(version->data(), v.data(), v.size());
    return true;
}


static std::shared_ptr<const edge_auth::KeySet>
ea_jwks_current(EaJwksSource *src, ngx_log_t *log)
{
    /* the small version entry first: the document is read and parsed only
     * when it changed since this worker last parsed it */
    edge_auth::Digest version;
    if (src->parsed && ea_jwks_version(src, &version) && version == src->parsed_digest) {
        return src->parsed;
    }
    std::string doc;
    if (!ea_zone_get(src->zone, src->doc_key, &doc)) {
        return nullptr;
    }
    edge_auth::Digest d = edge_auth::sha256(doc);
    if (src->parsed && d == src->parsed_digest) {
        return src->parsed;
    }
    std::string error;
    auto keys = ea_jwks_parse(doc, &error);
    if (!keys) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "edge_auth: jwks \"%s\": %s", src->url.c_str(),
                      error.c_str());
        return nullptr;
    }
    src->parsed = keys;
    src->parsed_digest = d;
    return keys;
}


ngx_int_t
ea_jwks_get(ngx_http_request_t *r, EaJwksSource *src, ea_ctx_t *ctx,
    std::shared_ptr<const edge_auth::KeySet> *keys)
{
    *keys = ea_jwks_current(src, r->connection->log);
    if (*keys) {
        if (!ea_zone_get(src->zone, src->fresh_key, NULL)) {
            ea_jwks_start(src);  /* stale: refresh in the background */
        }
        return NGX_OK;
    }
    if (ctx->jwks_waited == src) {
        return NGX_DECLINED;  /* waited once already: the keys are unavailable */
    }
    ea_jwks_start(src);
    ctx->jwks_waited = src;
    return ea_wait_park(r, &src->waiters, static_cast<ngx_msec_t>(src->timeout_ms),
                        &ctx->jwks_timed_out);
}


ngx_int_t
ea_jwks_refetch(ngx_http_request_t *r, EaJwksSource *src, ea_ctx_t *ctx)
{
    if (ctx->jwks_waited == src) {
        return NGX_DECLINED;
    }
    /* at most once per refresh_min, across all workers */
    if (!src->flight
        && !ea_zone_add(src->zone, src->refetch_key, "1",
                        static_cast<ngx_msec_t>(src->refresh_min_ms)))
    {
        return NGX_DECLINED;
    }
    ea_zone_delete(src->zone, src->fresh_key);
    if (!ea_jwks_start(src) && !src->flight) {
        /* another worker is fetching: poll the zone for the new document */
    }
    ctx->jwks_waited = src;
    return ea_wait_park(r, &src->waiters, static_cast<ngx_msec_t>(src->timeout_ms),
                        &ctx->jwks_timed_out);
}


static void
ea_jwks_cleanup(void *data) noexcept
{
    delete static_cast<EaJwksSource *>(data);
}


EaJwksSource *
ea_jwks_source(ngx_conf_t *cf, ea_main_conf_t *mcf, std::string_view url,
    int64_t ttl_ms, int64_t refresh_min_ms)
{
    EaJwksSource **all = static_cast<EaJwksSource **>(mcf->jwks_sources->elts);
    for (ngx_uint_t i = 0; i < mcf->jwks_sources->nelts; i++) {
        if (all[i]->url == url && all[i]->ttl_ms == ttl_ms
            && all[i]->refresh_min_ms == refresh_min_ms)
        {
            return all[i];
        }
    }
    auto src = std::make_unique<EaJwksSource>();
    src->url.assign(url);
    src->ttl_ms = ttl_ms;
    src->refresh_min_ms = refresh_min_ms;
    src->derive_keys();

    EaJwksSource *raw = src.get();
    src->waiters.poll = [raw]() {
        /* another worker's fetch ended (its marker is gone, or says it
         * failed); this worker's own fetch wakes its waiters itself */
        if (raw->flight) {
            return false;
        }
        std::string marker;
        return !ea_zone_get(raw->zone, raw->lock_key, &marker) || marker == "failed";
    };

    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
    EaJwksSource **slot = static_cast<EaJwksSource **>(ngx_array_push(mcf->jwks_sources));
    if (cln == NULL || slot == NULL) {
        throw std::bad_alloc();
    }
    cln->handler = ea_jwks_cleanup;
    cln->data = src.release();
    *slot = raw;
    return raw;
}


void
ea_jwks_postconfiguration(ea_main_conf_t *mcf)
{
    EaJwksSource **all = static_cast<EaJwksSource **>(mcf->jwks_sources->elts);
    for (ngx_uint_t i = 0; i < mcf->jwks_sources->nelts; i++) {
        all[i]->zone = mcf->zone;
    }
}


const std::string &
ea_jwks_url(const EaJwksSource *src)
{
    return src->url;
}


int64_t
ea_jwks_ttl(const EaJwksSource *src)
{
    return src->ttl_ms;
}


/* A provider's jwks_uri is known only after discovery: each worker sets it
 * from the same document, so every worker derives the same zone keys. */
void
ea_jwks_set_url(EaJwksSource *src, std::string_view url, int64_t timeout_ms,
    std::string_view ca_file)
{
    if (src->url == url) {
        return;
    }
    src->url.assign(url);
    src->timeout_ms = timeout_ms;
    src->ca_file.assign(ca_file);
    src->parsed.reset();
    src->derive_keys();
}
