/*
 * HTTP Basic: users from an htpasswd file (re-read when it changes, checked
 * at most once a second) and inline users. Fast hashes are verified on the
 * event loop; bcrypt and SHA-crypt in an nginx thread pool while the request
 * is parked. A success is remembered in the shared zone under a keyed hash,
 * so each credential costs one slow hash per file version.
 *
 *   edge_auth basic;
 *   edge_auth_user_file /etc/nginx/htpasswd;
 */

#include "ngx/ngx_edge_auth.h"

#include <cstring>
#include <memory>
#include <new>

#include "core/basic_cache.h"
#include "core/credentials.h"
#include "core/header_value.h"
#include "core/htpasswd.h"
#include "core/secret_ref.h"

using edge_auth::AuthStatus;

/* How long a verified Basic credential stays cached in the zone. */
static const ngx_msec_t ea_basic_cache_ttl = 10 * 60 * 1000;
static const char ea_basic_cache_tag[] = "basic";


/*
 * One htpasswd file. Owned by the configuration (pool cleanup); after fork
 * each worker holds its own copy and refreshes it on its own.
 */
class EaUserFile {
 public:
    explicit EaUserFile(std::string path) : path_(std::move(path)) {}

    const std::string &path() const { return path_; }

    /* Reads the file now; false with a reason on failure. */
    bool load(std::string &error, ngx_log_t *log)
    {
        ngx_file_info_t fi;
        if (ngx_file_info(path_.c_str(), &fi) == NGX_FILE_ERROR) {
            error = "cannot stat user file \"" + path_ + "\": " + strerror(ngx_errno);
            return false;
        }
        edge_auth::Result<std::string> text =
            edge_auth::resolve_secret_ref("file:" + path_);
        if (!text) {
            error = text.error();
            return false;
        }
        edge_auth::UserTable table = edge_auth::parse_htpasswd(*text);
        edge_auth::Digest d = edge_auth::sha256(*text);
        edge_auth::wipe(*text);

        for (const std::string &w : table.warnings) {
            ngx_log_error(NGX_LOG_WARN, log, 0, "edge_auth: user file \"%s\", %s",
                          path_.c_str(), w.c_str());
        }
        table_ = std::move(table);
        std::memcpy(&version_, d.data(), sizeof(version_));
        mtime_ = ngx_file_mtime(&fi);
        size_ = ngx_file_size(&fi);
        inode_ = ngx_file_uniq(&fi);
        available_ = true;
        return true;
    }

    /* Re-reads the file when its mtime, size or inode changed, looking at
     * most once a second. A file that disappears or cannot be read denies
     * everyone until it is back (deny by default). */
    void refresh(ngx_log_t *log)
    {
        if (ngx_time() - checked_ < 1) {
            return;
        }
        checked_ = ngx_time();

        ngx_file_info_t fi;
        if (ngx_file_info(path_.c_str(), &fi) == NGX_FILE_ERROR) {
            if (available_) {
                ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                              "edge_auth: user file \"%s\" is unavailable; "
                              "Basic users are denied", path_.c_str());
            }
            available_ = false;
            return;
        }
        if (available_ && ngx_file_mtime(&fi) == mtime_ && ngx_file_size(&fi) == size_
            && ngx_file_uniq(&fi) == inode_)
        {
            return;
        }
        std::string error;
        if (!load(error, log)) {
            ngx_log_error(NGX_LOG_ERR, log, 0, "edge_auth: %s; Basic users are denied",
                          error.c_str());
            available_ = false;
            return;
        }
        ngx_log_error(NGX_LOG_NOTICE, log, 0, "edge_auth: reloaded user file \"%s\"",
                      path_.c_str());
    }

    bool available() const { return available_; }
    uint64_t version() const { return version_; }
    const std::string *find(std::string_view user) const { return table_.find(user); }

 private:
    std::string path_;
    edge_auth::UserTable table_;
    bool available_ = false;
    uint64_t version_ = 0;
    time_t checked_ = 0;
    time_t mtime_ = 0;
    off_t size_ = 0;
    ngx_file_uniq_t inode_ = 0;
};


static void
ea_user_file_cleanup(void *data) noexcept
{
    delete static_cast<EaUserFile *>(data);
}


EaUserFile *
ea_user_file_get(ngx_conf_t *cf, ea_main_conf_t *mcf, ngx_str_t *path,
    std::string &error)
{
    std::string_view want = ea_sv(*path);
    EaUserFile **files = static_cast<EaUserFile **>(mcf->user_files->elts);
    for (ngx_uint_t i = 0; i < mcf->user_files->nelts; i++) {
        if (files[i]->path() == want) {
            return files[i];
        }
    }

    auto file = std::make_unique<EaUserFile>(std::string(want));
    if (!file->load(error, cf->log)) {
        return NULL;
    }
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
    EaUserFile **slot = static_cast<EaUserFile **>(ngx_array_push(mcf->user_files));
    if (cln == NULL || slot == NULL) {
        throw std::bad_alloc();
    }
    cln->handler = ea_user_file_cleanup;
    cln->data = file.get();
    *slot = file.release();
    return *slot;
}


bool
ea_users_configured(const ea_users_t *users)
{
    return users != NULL && (users->file != NULL || users->inline_ != NULL);
}


/* The stored hash for a user, inline users first; NULL = unknown user. */
static const std::string *
ea_find_user(ngx_http_request_t *r, ea_users_t *users, std::string_view name,
    uint64_t *version, AuthStatus *status)
{
    if (users->inline_ != NULL) {
        auto *table = static_cast<edge_auth::UserTable *>(users->inline_);
        if (const std::string *hash = table->find(name)) {
            *version = 0;
            return hash;
        }
    }
    if (users->file != NULL) {
        users->file->refresh(r->connection->log);
        if (!users->file->available()) {
            *status = AuthStatus::UserFileUnavailable;
            return NULL;
        }
        *version = users->file->version();
        return users->file->find(name);
    }
    return NULL;
}


#if (NGX_THREADS)

/* A slow verification handed to the thread pool. Allocated by new in the
 * event loop, read by one pool thread, deleted by the completion handler on
 * the event loop. The request is kept alive meanwhile by r->main->blocked. */
struct EaBasicJob {
    ngx_http_request_t *request;
    ngx_shm_zone_t *zone;
    edge_auth::Digest cache_key;
    std::string password;
    std::string hash;
    bool verified = false;

    ~EaBasicJob() { edge_auth::wipe(password); }
};

struct ea_thread_ctx_t {
    EaBasicJob *job;
};


static void
ea_basic_thread(void *data, ngx_log_t *log) noexcept
{
    EaBasicJob *job = static_cast<ea_thread_ctx_t *>(data)->job;
    try {
        job->verified = edge_auth::verify_password(job->password, job->hash);
    } catch (...) {
        job->verified = false;
    }
}


static void
ea_basic_thread_done(ngx_event_t *ev) noexcept
{
    ngx_thread_task_t *task = static_cast<ngx_thread_task_t *>(ev->data);
    EaBasicJob *job = static_cast<ea_thread_ctx_t *>(task->ctx)->job;
    ngx_http_request_t *r = job->request;
    ngx_connection_t *c = r->connection;

    try {
        ea_ctx_t *ctx = ea_get_ctx(r);
        if (ctx != NULL && ctx->state == EaState::Waiting) {
            ctx->state = EaState::Done;
            ctx->status = job->verified ? AuthStatus::Ok : AuthStatus::BadPassword;
            if (job->verified) {
                ea_zone_set(job->zone, job->cache_key, ea_basic_cache_tag,
                            ea_basic_cache_ttl);
            }
        }
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "edge_auth: %s", e.what());
    }
    delete job;

    r->main->blocked--;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ea_basic_post(ngx_http_request_t *r, ea_ctx_t *ctx, std::unique_ptr<EaBasicJob> job)
{
    ea_main_conf_t *mcf = ea_main_conf(r);
    if (mcf->thread_pool == NULL) {
        return NGX_ERROR;
    }
    ngx_thread_task_t *task = ngx_thread_task_alloc(r->pool, sizeof(ea_thread_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }
    static_cast<ea_thread_ctx_t *>(task->ctx)->job = job.get();
    task->handler = ea_basic_thread;
    task->event.handler = ea_basic_thread_done;
    task->event.data = task;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;  /* queue overflow is logged by nginx */
    }
    job.release();
    ctx->state = EaState::Waiting;
    r->main->blocked++;
    return NGX_AGAIN;
}

#endif


ngx_int_t
ea_basic_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    std::string_view credentials)
{
    edge_auth::BasicCredentials basic;
    AuthStatus status = edge_auth::parse_basic(credentials, basic);
    if (status != AuthStatus::Ok) {
        ctx->status = status;
        return NGX_DECLINED;
    }
    if (ea_pstr(r->pool, basic.user, &ctx->user) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!ea_users_configured(lcf->users)) {
        ctx->status = AuthStatus::UnknownUser;
        return NGX_DECLINED;
    }
    uint64_t version = 0;
    status = AuthStatus::UnknownUser;
    const std::string *hash = ea_find_user(r, lcf->users, basic.user, &version, &status);
    if (hash == NULL) {
        ctx->status = status;
        return NGX_DECLINED;
    }

    ea_main_conf_t *mcf = ea_main_conf(r);
    edge_auth::Digest key = edge_auth::basic_cache_key(
        ea_zone_secret(mcf->zone), version, basic.user, basic.password, *hash);
    if (ea_zone_get(mcf->zone, key, NULL)) {
        ctx->status = AuthStatus::Ok;
        return NGX_OK;
    }

#if (NGX_THREADS)
    if (edge_auth::is_slow_hash(*hash)) {
        auto job = std::make_unique<EaBasicJob>();
        job->request = r;
        job->zone = mcf->zone;
        job->cache_key = key;
        job->password = basic.password;
        job->hash = *hash;
        return ea_basic_post(r, ctx, std::move(job));
    }
#endif

    if (!edge_auth::verify_password(basic.password, *hash)) {
        ctx->status = AuthStatus::BadPassword;
        return NGX_DECLINED;
    }
    ea_zone_set(mcf->zone, key, ea_basic_cache_tag, ea_basic_cache_ttl);
    ctx->status = AuthStatus::Ok;
    return NGX_OK;
}
