/*
 * Metrics: counters in the shared zone (every worker adds to the same ones,
 * and they survive reloads with the zone), and edge_auth_status, a content
 * handler like stub_status that shows them as Prometheus text or JSON.
 *
 *   location = /edge-auth/metrics { edge_auth_status; allow 127.0.0.1; deny all; }
 *
 * Labels come from the configuration only (location names, client, provider
 * and JWKS source names), so the number of series is bounded by it. A worker
 * looks a series up in the zone once (under the zone's mutex) and keeps the
 * counter's address; counting is then one atomic add.
 */

#include "ngx/ngx_edge_auth.h"

#include "core/metrics.h"
#include "core/version.h"

using edge_auth::Metric;

static ngx_shm_zone_t *ea_metrics_zone;  /* per worker, set at start */

/* The counters of one location, per worker (allocated at first use: a
 * location that is never requested costs nothing). */
struct ea_loc_metrics_t {
    EaCounter  requests[8][EA_OUTCOMES];   /* method label x outcome */
    EaCounter  injections[4];              /* ea_inject_kind_e */
    EaCounter  jwt_cache_hits;
    ea_loc_metrics_t *next = nullptr;      /* ea_loc_metrics_all */
    ea_loc_metrics_t **owner = nullptr;    /* &lcf->metrics, emptied on delete */
};

static const char *const ea_outcome_names[EA_OUTCOMES] = {
    "allowed", "denied_401", "denied_403", "bypassed", "error", "redirect"};

static const char *const ea_inject_names[4] = {"header", "basic", "query", "oauth"};


void
ea_metrics_init_process(ngx_shm_zone_t *zone)
{
    ea_metrics_zone = zone;
}


void
ea_count(EaCounter &counter, Metric metric, std::initializer_list<std::string_view> labels)
{
    if (counter.value == NULL) {
        if (ea_metrics_zone == NULL) {
            return;
        }
        counter.value = ea_zone_series(ea_metrics_zone, static_cast<uint32_t>(metric),
                                       edge_auth::series_key(metric, labels));
        if (counter.value == NULL) {
            return;  /* zone full: tried again next time */
        }
    }
    ngx_atomic_fetch_add(counter.value, 1);
}


/* Allocated with `new` for the worker's life, as before, but now also freed
 * when the worker exits: nothing pointed at them any more once the cycle's
 * configuration was gone (valgrind: 424 bytes definitely lost per requested
 * location at exit). */
static ea_loc_metrics_t *ea_loc_metrics_all;  /* per worker: every one allocated */

static ea_loc_metrics_t *
ea_loc_metrics(ea_loc_conf_t *lcf)
{
    if (lcf->metrics == NULL) {
        lcf->metrics = new ea_loc_metrics_t();  /* lives as long as the worker */
        lcf->metrics->next = ea_loc_metrics_all;
        lcf->metrics->owner = &lcf->metrics;
        ea_loc_metrics_all = lcf->metrics;
    }
    return lcf->metrics;
}


void
ea_metrics_exit_process()
{
    while (ea_loc_metrics_all != NULL) {
        ea_loc_metrics_t *m = ea_loc_metrics_all;
        ea_loc_metrics_all = m->next;
        *m->owner = NULL;
        delete m;
    }
}


static std::string_view
ea_location_name(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    return ea_sv(clcf->name);
}


void
ea_count_request(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_outcome_e outcome)
{
    std::string_view method = edge_auth::method_label(ea_sv(r->method_name));
    static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT",
                                                   "DELETE", "PATCH", "OPTIONS"};
    size_t m = 7;
    for (size_t i = 0; i < 7; i++) {
        if (methods[i] == method) {
            m = i;
            break;
        }
    }
    ea_count(ea_loc_metrics(lcf)->requests[m][outcome], Metric::Requests,
             {ea_location_name(r), method, ea_outcome_names[outcome]});
}


void
ea_count_response(ngx_http_request_t *r, ea_loc_conf_t *lcf, ngx_uint_t status)
{
    ea_count_request(r, lcf, status == NGX_HTTP_MOVED_TEMPORARILY ? EA_OUTCOME_REDIRECT
                             : status == NGX_HTTP_UNAUTHORIZED    ? EA_OUTCOME_DENIED_401
                             : status == NGX_HTTP_FORBIDDEN       ? EA_OUTCOME_DENIED_403
                                                                  : EA_OUTCOME_ERROR);
}


void
ea_count_injection(ngx_http_request_t *r, ea_loc_conf_t *lcf, ngx_uint_t kind)
{
    if (kind > EA_INJECT_OAUTH) {
        return;
    }
    ea_count(ea_loc_metrics(lcf)->injections[kind], Metric::Injections,
             {ea_location_name(r), ea_inject_names[kind]});
}


void
ea_count_jwt_cache_hit(ngx_http_request_t *r, ea_loc_conf_t *lcf)
{
    ea_count(ea_loc_metrics(lcf)->jwt_cache_hits, Metric::JwtCacheHits,
             {ea_location_name(r)});
}


void
ea_count_redis_error()
{
    static EaCounter errors;
    ea_count(errors, Metric::RedisErrors, {});
}


/* ---- edge_auth_status --------------------------------------------------- */

static ngx_int_t
ea_status(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    ea_main_conf_t *mcf = ea_main_conf(r);
    if (mcf == NULL || mcf->zone == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    std::vector<edge_auth::Sample> samples;
    ea_zone_each_series(mcf->zone, [&samples](uint32_t metric, std::string_view key,
                                              uint64_t value) {
        if (metric < static_cast<uint32_t>(edge_auth::kMetricCount)) {
            samples.push_back({static_cast<Metric>(metric), std::string(key), value});
        }
    });
    size_t size = 0, free = 0;
    ea_zone_usage(mcf->zone, &size, &free);
    samples.push_back({Metric::ZoneBytes, edge_auth::series_key(Metric::ZoneBytes, {"used"}),
                       size - free});
    samples.push_back({Metric::ZoneBytes, edge_auth::series_key(Metric::ZoneBytes, {"free"}),
                       free});
    samples.push_back({Metric::Info, edge_auth::series_key(Metric::Info, {edge_auth::kVersion}),
                       1});
    if (ea_redis_enabled()) {
        /* present at 0 when Redis is configured, so alerts can use it */
        bool seen = false;
        for (const auto &s : samples) {
            seen = seen || s.metric == Metric::RedisErrors;
        }
        if (!seen) {
            samples.push_back({Metric::RedisErrors, "", 0});
        }
    }

    ngx_str_t format;
    bool json = ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
                && ea_sv(format) == "json";
    std::string body = json ? edge_auth::render_json(std::move(samples), edge_auth::kVersion)
                            : edge_auth::render_prometheus(std::move(samples));
    /* ea_send finalizes the request; the content phase finalizes what a
     * content handler returns too: hold a reference for the second one */
    r->main->count++;
    ea_send(r, NGX_HTTP_OK, body,
            json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8");
    return NGX_DONE;
}


static ngx_int_t
ea_status_handler(ngx_http_request_t *r) noexcept
{
    try {
        return ea_status(r);
    } catch (const std::exception &e) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: status failed: %s", e.what());
    } catch (...) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: status failed");
    }
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


char *
ea_conf_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (lcf->status_line != 0) {
        return const_cast<char *>("is duplicate");
    }
    if (clcf->handler != NULL) {
        return const_cast<char *>("conflicts with the location's content handler "
                                  "(proxy_pass, fastcgi_pass, return ...): give the "
                                  "status a location of its own");
    }
    clcf->handler = ea_status_handler;
    lcf->status_file = cf->conf_file->file.name;
    lcf->status_line = cf->conf_file->line;
    return NGX_CONF_OK;
}


/* A content handler set after edge_auth_status (proxy_pass below it) would
 * replace it silently. */
ngx_int_t
ea_status_merge(ngx_conf_t *cf, ea_loc_conf_t *conf)
{
    if (conf->status_line == 0) {
        return NGX_OK;
    }
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (clcf->handler != ea_status_handler) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"edge_auth_status\" conflicts with the location's content handler "
                      "(proxy_pass, fastcgi_pass ...): give the status a location of its "
                      "own in %V:%ui", &conf->status_file, conf->status_line);
        return NGX_ERROR;
    }
    return NGX_OK;
}
