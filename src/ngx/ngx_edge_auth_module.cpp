/*
 * The module definition: configuration objects, their inheritance, and the
 * registration of the phase handlers, variables and the shared zone.
 *
 *   http { edge_auth_zone 10m; server { location / { edge_auth basic; ... } } }
 */

#include "ngx/ngx_edge_auth.h"

#include "core/secret_ref.h"

#include <curl/curl.h>

#include <new>

static ngx_int_t ea_preconfiguration(ngx_conf_t *cf) noexcept;
static ngx_int_t ea_postconfiguration(ngx_conf_t *cf) noexcept;
static void *ea_create_main_conf(ngx_conf_t *cf) noexcept;
static char *ea_init_main_conf(ngx_conf_t *cf, void *conf) noexcept;
static void *ea_create_srv_conf(ngx_conf_t *cf) noexcept;
static void *ea_create_loc_conf(ngx_conf_t *cf) noexcept;
static char *ea_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child) noexcept;
static ngx_int_t ea_init_module(ngx_cycle_t *cycle) noexcept;
static ngx_int_t ea_init_process(ngx_cycle_t *cycle) noexcept;
static void ea_exit_process(ngx_cycle_t *cycle) noexcept;

static ngx_str_t ea_zone_name = ngx_string("edge_auth");
static ngx_str_t ea_default_pool = ngx_string("default");

static ngx_http_module_t ngx_http_edge_auth_module_ctx = {
    ea_preconfiguration,   /* preconfiguration */
    ea_postconfiguration,  /* postconfiguration */
    ea_create_main_conf,   /* create main configuration */
    ea_init_main_conf,     /* init main configuration */
    ea_create_srv_conf,    /* create server configuration */
    NULL,                  /* merge server configuration */
    ea_create_loc_conf,    /* create location configuration */
    ea_merge_loc_conf      /* merge location configuration */
};

ngx_module_t ngx_http_edge_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_edge_auth_module_ctx,
    ea_commands,
    NGX_HTTP_MODULE,
    NULL,                  /* init master */
    ea_init_module,        /* init module */
    ea_init_process,       /* init process */
    NULL,                  /* init thread */
    NULL,                  /* exit thread */
    ea_exit_process,       /* exit process */
    NULL,                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ea_main_conf_t *
ea_main_conf(ngx_http_request_t *r)
{
    return static_cast<ea_main_conf_t *>(
        ngx_http_get_module_main_conf(r, ngx_http_edge_auth_module));
}


ngx_int_t
ea_pstr(ngx_pool_t *pool, std::string_view from, ngx_str_t *to)
{
    to->len = from.size();
    to->data = static_cast<u_char *>(ngx_pnalloc(pool, from.size() + 1));
    if (to->data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(to->data, from.data(), from.size());
    to->data[from.size()] = '\0';
    return NGX_OK;
}


edge_auth::Result<std::string>
ea_conf_secret(ngx_conf_t *cf, std::string_view spec)
{
    /* A relative file: path is relative to the configuration directory,
     * like every other path nginx reads at load (not to nginx's cwd). */
    if (spec.substr(0, 5) == "file:" && spec.size() > 5 && spec[5] != '/') {
        ngx_str_t path;
        if (ea_pstr(cf->pool, spec.substr(5), &path) != NGX_OK
            || ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK)
        {
            return edge_auth::Result<std::string>::failure("out of memory");
        }
        return edge_auth::resolve_secret_ref("file:" + std::string(ea_sv(path)));
    }
    return edge_auth::resolve_secret_ref(spec);
}


static ngx_int_t
ea_preconfiguration(ngx_conf_t *cf) noexcept
{
    try {
        return ea_add_variables(cf);
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return NGX_ERROR;
    }
}


static void *
ea_create_main_conf(ngx_conf_t *cf) noexcept
{
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
        ngx_pcalloc(cf->pool, sizeof(ea_main_conf_t)));
    if (mcf == NULL) {
        return NULL;
    }
    mcf->zone_size = NGX_CONF_UNSET_SIZE;
    mcf->user_files = ngx_array_create(cf->pool, 4, sizeof(EaUserFile *));
    mcf->oauth_clients = ngx_array_create(cf->pool, 4, sizeof(EaOAuthClient *));
    mcf->oauth_refs = ngx_array_create(cf->pool, 4, sizeof(ea_oauth_ref_t));
    mcf->jwks_sources = ngx_array_create(cf->pool, 4, sizeof(EaJwksSource *));
    mcf->introspections = ngx_array_create(cf->pool, 2, sizeof(EaIntrospection *));
    mcf->oidc_providers = ngx_array_create(cf->pool, 2, sizeof(EaOidcProvider *));
    mcf->oidc_refs = ngx_array_create(cf->pool, 4, sizeof(ea_oidc_ref_t));
    if (mcf->user_files == NULL || mcf->oauth_clients == NULL || mcf->oauth_refs == NULL
        || mcf->jwks_sources == NULL || mcf->introspections == NULL
        || mcf->oidc_providers == NULL || mcf->oidc_refs == NULL)
    {
        return NULL;
    }
    return mcf;
}


static char *
ea_init_main_conf(ngx_conf_t *cf, void *conf) noexcept
{
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);

    ngx_conf_init_size_value(mcf->zone_size, 10 * 1024 * 1024);
    if (mcf->thread_pool_name.len == 0) {
        mcf->thread_pool_name = ea_default_pool;
    }
    return NGX_CONF_OK;
}


static void *
ea_create_srv_conf(ngx_conf_t *cf) noexcept
{
    /* ngx_pcalloc: providers = NULL */
    return ngx_pcalloc(cf->pool, sizeof(ea_srv_conf_t));
}


static void *
ea_create_loc_conf(ngx_conf_t *cf) noexcept
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(
        ngx_pcalloc(cf->pool, sizeof(ea_loc_conf_t)));
    if (lcf == NULL) {
        return NULL;
    }
    /* ngx_pcalloc: realm, users, tokens, key_sources, injects = NULL */
    lcf->methods = NGX_CONF_UNSET_UINT;
    lcf->bypass = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    lcf->strip = NGX_CONF_UNSET;
    lcf->jwt_leeway = NGX_CONF_UNSET_MSEC;
    lcf->jwt_require_exp = NGX_CONF_UNSET;
    lcf->identity_headers = NGX_CONF_UNSET;
    return lcf;
}


/* The directive a method of `edge_auth` needs and lacks, as a message. */
static const char *
ea_method_needs(const ea_loc_conf_t *conf)
{
    if ((conf->methods & EA_METHOD_BASIC) && !ea_users_configured(conf->users)) {
        return "\"edge_auth basic\" needs edge_auth_user_file or edge_auth_user";
    }
    if ((conf->methods & EA_METHOD_JWT) && conf->jwt_keys == NULL && conf->jwt_secret == NULL) {
        return "\"edge_auth jwt\" needs edge_auth_jwt_keys or edge_auth_jwt_secret";
    }
    if ((conf->methods & EA_METHOD_INTROSPECT) && conf->introspection == NULL) {
        return "\"edge_auth introspect\" needs edge_auth_introspection";
    }
    /* bearer tokens unknown here may still be introspected */
    if ((conf->methods & EA_METHOD_BEARER) && conf->tokens == NULL
        && !(conf->methods & EA_METHOD_INTROSPECT))
    {
        return "\"edge_auth bearer\" needs edge_auth_token or edge_auth_token_file";
    }
    if ((conf->methods & EA_METHOD_API_KEY) && conf->tokens == NULL) {
        return "\"edge_auth api_key\" needs edge_auth_token or edge_auth_token_file";
    }
    return NULL;
}


static char *
ea_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child) noexcept
{
    ea_loc_conf_t *prev = static_cast<ea_loc_conf_t *>(parent);
    ea_loc_conf_t *conf = static_cast<ea_loc_conf_t *>(child);

    if (conf->methods == NGX_CONF_UNSET_UINT) {
        if (prev->methods == NGX_CONF_UNSET_UINT) {
            conf->methods = 0;
        } else {
            conf->methods = prev->methods;
            conf->norder = prev->norder;
            conf->methods_file = prev->methods_file;
            conf->methods_line = prev->methods_line;
            ngx_memcpy(conf->order, prev->order, sizeof(conf->order));
        }
    }
    ngx_conf_merge_ptr_value(conf->bypass, prev->bypass, NULL);
    ngx_conf_merge_value(conf->strip, prev->strip, 1);

    if (conf->realm == NULL) {
        conf->realm = prev->realm;
    }
    /* Like auth_basic_user_file and proxy_set_header: a level that names any
     * user (or token, or injection) replaces the inherited set entirely. */
    if (conf->users == NULL) {
        conf->users = prev->users;
    }
    if (conf->tokens == NULL) {
        conf->tokens = prev->tokens;
    }
    if (conf->key_sources == NULL) {
        conf->key_sources = prev->key_sources;
    }
    if (conf->injects == NULL) {
        conf->injects = prev->injects;
    }

    /* jwt settings: each inherited on its own */
    if (conf->jwt_keys == NULL) conf->jwt_keys = prev->jwt_keys;
    if (conf->jwt_secret == NULL) {
        conf->jwt_secret = prev->jwt_secret;
        conf->jwt_secret_keys = prev->jwt_secret_keys;
    }
    if (conf->jwt_algorithms == NULL) conf->jwt_algorithms = prev->jwt_algorithms;
    if (conf->jwt_issuers == NULL) conf->jwt_issuers = prev->jwt_issuers;
    if (conf->jwt_audiences == NULL) conf->jwt_audiences = prev->jwt_audiences;
    if (conf->jwt_token == NULL) conf->jwt_token = prev->jwt_token;
    if (conf->rules == NULL) conf->rules = prev->rules;
    if (conf->claim_headers == NULL) conf->claim_headers = prev->claim_headers;
    ngx_conf_merge_msec_value(conf->jwt_leeway, prev->jwt_leeway, 30000);
    ngx_conf_merge_value(conf->jwt_require_exp, prev->jwt_require_exp, 1);
    ngx_conf_merge_value(conf->identity_headers, prev->identity_headers, 0);

    /* What a method needs: an error for a location (with where `edge_auth`
     * is written); a server level may leave it to its locations (a request
     * that matches no location is then denied at run time). */
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    bool location = clcf->name.len > 0;
    if (conf->introspection == NULL) {
        conf->introspection = prev->introspection;
    }
    const char *missing = ea_method_needs(conf);
    if (missing != NULL && location) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s in %V:%ui", missing,
                      &conf->methods_file, conf->methods_line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if ((conf->methods & EA_METHOD_JWT) && (conf->jwt_keys != NULL || conf->jwt_secret != NULL)) {
        try {
            if (ea_jwt_merge(cf, conf) != NGX_OK) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        } catch (const std::exception &e) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }


    if (ea_status_merge(cf, conf) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->oidc_name.len == 0) {
        conf->oidc_name = prev->oidc_name;
        conf->oidc_file = prev->oidc_file;
        conf->oidc_line = prev->oidc_line;
    }
    if ((conf->methods & EA_METHOD_OIDC) && conf->oidc_name.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"edge_auth oidc\" needs edge_auth_oidc NAME in %V:%ui",
                      &conf->methods_file, conf->methods_line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (conf->oidc_name.len > 0) {
        /* the provider block may come later: resolved in postconfiguration,
         * where the server learns it serves the provider's endpoints */
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
        ea_oidc_ref_t *ref = static_cast<ea_oidc_ref_t *>(ngx_array_push(mcf->oidc_refs));
        if (ref == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ref->lcf = conf;
        ref->srv = static_cast<ea_srv_conf_t *>(
            ngx_http_conf_get_module_srv_conf(cf, ngx_http_edge_auth_module));
        ref->cscf = static_cast<ngx_http_core_srv_conf_t *>(
            ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module));
        ref->name = conf->oidc_name;
        ref->file = conf->oidc_file;
        ref->line = conf->oidc_line;
    }

    if (conf->methods & EA_METHOD_BASIC) {
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
        mcf->uses_basic = 1;
    }
    return NGX_CONF_OK;
}


static ngx_int_t ea_postconfiguration_body(ngx_conf_t *cf);


static ngx_int_t
ea_postconfiguration(ngx_conf_t *cf) noexcept
{
    try {
        return ea_postconfiguration_body(cf);
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return NGX_ERROR;
    }
}


static ngx_int_t
ea_postconfiguration_body(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));

    ngx_http_handler_pt *h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ea_access_handler;

    /* the providers' endpoints (/oauth2/callback ...), before the
     * location's own rewrite directives (a later module runs first) */
    h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ea_oidc_rewrite_handler;

    h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers));
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ea_precontent_handler;

    /* The zone exists even when nothing is written yet (DESIGN: created
     * even when not written), so reloads that start using it find it. */
    if (mcf->zone_size == NGX_CONF_UNSET_SIZE) {
        mcf->zone_size = 10 * 1024 * 1024;
    }
    mcf->zone = ngx_shared_memory_add(cf, &ea_zone_name, mcf->zone_size,
                                      &ngx_http_edge_auth_module);
    if (mcf->zone == NULL) {
        return NGX_ERROR;
    }
    if (mcf->zone->data == NULL) {
        mcf->zone->data = ea_zone_create(cf->pool);
        if (mcf->zone->data == NULL) {
            return NGX_ERROR;
        }
    }
    mcf->zone->init = ea_zone_init;
    ea_jwks_postconfiguration(mcf);
    if (ea_introspect_postconfiguration(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }
    if (ea_oauth_postconfiguration(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }
    if (ea_oidc_postconfiguration(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* edge_auth_upstream_oauth may name a client defined further down. */
    ea_oauth_ref_t *refs = static_cast<ea_oauth_ref_t *>(mcf->oauth_refs->elts);
    for (ngx_uint_t i = 0; i < mcf->oauth_refs->nelts; i++) {
        ea_inject_t *inj = static_cast<ea_inject_t *>(refs[i].injects->elts) + refs[i].index;
        inj->oauth = ea_oauth_find(mcf, &refs[i].name);
        if (inj->oauth == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown edge_auth_oauth_client \"%V\" in %V:%ui",
                          &refs[i].name, &refs[i].file, refs[i].line);
            return NGX_ERROR;
        }
    }

    if (ea_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_THREADS)
    /* Slow password hashes (bcrypt, SHA-crypt) are verified in a thread
     * pool; "default" is created by nginx on demand, others must be
     * declared with thread_pool. */
    if (mcf->uses_basic && mcf->thread_pool == NULL) {
        mcf->thread_pool = ngx_thread_pool_add(cf, &mcf->thread_pool_name);
        if (mcf->thread_pool == NULL) {
            return NGX_ERROR;
        }
    }
#endif
    return NGX_OK;
}


static ngx_int_t
ea_init_module(ngx_cycle_t *cycle) noexcept
{
    /* Once per process image, before any worker (and any thread) exists. */
    static bool initialised = false;
    if (!initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "edge_auth: curl_global_init failed");
            return NGX_ERROR;
        }
        initialised = true;
    }
    return NGX_OK;
}


static ngx_int_t
ea_init_process(ngx_cycle_t *cycle) noexcept
{
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }
    if (ea_http_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_edge_auth_module));
    ea_metrics_init_process(mcf ? mcf->zone : NULL);
    if (ea_redis_init_process(cycle, mcf ? mcf->redis : NULL) != NGX_OK) {
        return NGX_ERROR;
    }
    if (mcf != NULL) {
        ea_oidc_init_process(mcf);
    }
    return NGX_OK;
}


static void
ea_exit_process(ngx_cycle_t *cycle) noexcept
{
    ea_redis_exit_process();
    ea_http_exit_process();
    ea_metrics_exit_process();
}
