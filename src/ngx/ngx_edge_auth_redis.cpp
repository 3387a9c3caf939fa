/*
 * Redis, the optional second cache level shared by several nginx nodes:
 * hiredis's async API with an nginx event adapter (no synchronous hiredis
 * call ever runs in a worker). One connection per worker, connected lazily,
 * reconnected with backoff; every command has a deadline. Redis being down
 * or slow is never an error for a request: callers get `ok = false` quickly
 * and fall back to the shared zone.
 *
 *   edge_auth_redis redis://:env:REDIS_PASSWORD@10.0.0.7:6379/0 prefix=edge: timeout=200ms;
 *
 *   ea_redis_get(key, [](bool ok, std::optional<std::string> v) { ... });
 *
 * Ownership: EaRedis is per worker (created at init_process). A Command is
 * new'd per call and deleted after its callback ran, which happens exactly
 * once: with the reply, on its deadline, or when the connection drops.
 */

#include "ngx/ngx_edge_auth.h"

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_set>

#include "core/header_value.h"

namespace {

struct Command {
    class EaRedis *redis;
    ea_redis_done_pt done;
    ngx_event_t deadline;
    bool finished = false;
};


class EaRedis {
 public:
    EaRedis(const ea_redis_conf_t *conf, ngx_log_t *log) : conf_(conf), log_(log)
    {
        ngx_memzero(&reconnect_, sizeof(reconnect_));
        reconnect_.handler = on_reconnect;
        reconnect_.data = this;
        reconnect_.log = log_;
        reconnect_.cancelable = 1;
        ngx_memzero(&connect_deadline_, sizeof(connect_deadline_));
        connect_deadline_.handler = on_connect_deadline;
        connect_deadline_.data = this;
        connect_deadline_.log = log_;
        connect_deadline_.cancelable = 1;
    }

    ~EaRedis()
    {
        shutting_down_ = true;
        if (reconnect_.timer_set) ngx_del_timer(&reconnect_);
        if (connect_deadline_.timer_set) ngx_del_timer(&connect_deadline_);
        if (ac_ != nullptr) {
            redisAsyncFree(ac_);  /* pending callbacks run with NULL replies */
            ac_ = nullptr;
        }
    }

    /* Sends a command (argv form: binary safe); `done` runs once, later. */
    void command(std::vector<std::string> args, ea_redis_done_pt done, ngx_msec_t timeout)
    {
        if (ac_ == nullptr) {
            connect();  /* commands queue in hiredis until it is up */
        }
        if (ac_ == nullptr) {
            fail_soon(std::move(done));
            return;
        }
        auto *cmd = new Command{this, std::move(done), {}, false};
        ngx_memzero(&cmd->deadline, sizeof(cmd->deadline));
        cmd->deadline.handler = on_command_deadline;
        cmd->deadline.data = cmd;
        cmd->deadline.log = log_;
        cmd->deadline.cancelable = 1;

        std::vector<std::string> full;
        full.reserve(args.size());
        for (std::string &a : args) full.push_back(std::move(a));
        std::vector<const char *> argv;
        std::vector<size_t> lens;
        for (const std::string &a : full) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAsyncCommandArgv(ac_, on_reply, cmd, static_cast<int>(argv.size()),
                                  argv.data(), lens.data()) != REDIS_OK)
        {
            auto d = std::move(cmd->done);
            delete cmd;
            fail_soon(std::move(d));
            return;
        }
        ngx_add_timer(&cmd->deadline, timeout ? std::min(timeout, conf_->timeout) : conf_->timeout);
        pending_.insert(cmd);
    }

    bool ready() const { return ac_ != nullptr && connected_; }

 private:
    void connect()
    {
        if (ac_ != nullptr || reconnect_.timer_set || shutting_down_) {
            return;
        }
        /* conf_->host is an address resolved at configuration load:
         * redisAsyncConnect would resolve a name synchronously. */
        ac_ = redisAsyncConnect(conf_->host.c_str(), conf_->port);
        if (ac_ == nullptr || ac_->err) {
            report("cannot connect", ac_ ? ac_->errstr : "out of memory");
            if (ac_) {
                redisAsyncFree(ac_);
                ac_ = nullptr;
            }
            schedule_reconnect();
            return;
        }
        ac_->data = this;
        attach(ac_);
        redisAsyncSetConnectCallback(ac_, on_connect);
        redisAsyncSetDisconnectCallback(ac_, on_disconnect);
        ngx_add_timer(&connect_deadline_, conf_->timeout);

        /* Queued until the connection is up; replies checked in on_auth. */
        if (!conf_->password.empty()) {
            if (conf_->username.empty()) {
                redisAsyncCommand(ac_, on_setup, this, "AUTH %b", conf_->password.data(),
                                  conf_->password.size());
            } else {
                redisAsyncCommand(ac_, on_setup, this, "AUTH %b %b", conf_->username.data(),
                                  conf_->username.size(), conf_->password.data(),
                                  conf_->password.size());
            }
        }
        if (conf_->db != 0) {
            redisAsyncCommand(ac_, on_setup, this, "SELECT %d", conf_->db);
        }
        /* The connection counts as back only when Redis answers, after
         * AUTH and SELECT: a TCP connect alone proves nothing. */
        redisAsyncCommand(ac_, on_ping, this, "PING");
    }

    /* ---- nginx event adapter ---- */

    void attach(redisAsyncContext *ac)
    {
        conn_ = ngx_get_connection(ac->c.fd, log_);
        if (conn_ == nullptr) {
            return;
        }
        conn_->data = this;
        conn_->read->handler = on_event;
        conn_->write->handler = on_event;
        conn_->read->log = log_;
        conn_->write->log = log_;
        ac->ev.data = this;
        ac->ev.addRead = add_read;
        ac->ev.delRead = del_read;
        ac->ev.addWrite = add_write;
        ac->ev.delWrite = del_write;
        ac->ev.cleanup = cleanup;
    }

    /* Level-triggered, as hiredis reads a bounded amount per call. */
    static void add_read(void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        if (self->conn_ && !self->conn_->read->active)
            ngx_add_event(self->conn_->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
    static void del_read(void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        if (self->conn_ && self->conn_->read->active)
            ngx_del_event(self->conn_->read, NGX_READ_EVENT, 0);
    }
    static void add_write(void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        if (self->conn_ && !self->conn_->write->active)
            ngx_add_event(self->conn_->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
    static void del_write(void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        if (self->conn_ && self->conn_->write->active)
            ngx_del_event(self->conn_->write, NGX_WRITE_EVENT, 0);
    }
    /* hiredis is about to close the fd: drop the wrapper first. */
    static void cleanup(void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        ngx_connection_t *c = self->conn_;
        if (c == nullptr) return;
        ea_free_event_wrapper(c, true);
        self->conn_ = nullptr;
    }

    static void on_event(ngx_event_t *ev) noexcept
    {
        ngx_connection_t *c = static_cast<ngx_connection_t *>(ev->data);
        auto *self = static_cast<EaRedis *>(c->data);
        if (self->ac_ == nullptr) return;
        if (ev->write) {
            redisAsyncHandleWrite(self->ac_);
        } else {
            redisAsyncHandleRead(self->ac_);
        }
    }

    /* ---- connection life ---- */

    static void on_connect(const redisAsyncContext *ac, int status)
    {
        auto *self = static_cast<EaRedis *>(ac->data);
        if (self->connect_deadline_.timer_set) ngx_del_timer(&self->connect_deadline_);
        if (status != REDIS_OK) {
            self->report("cannot connect", ac->errstr);
            /* hiredis frees the context after this callback */
            self->ac_ = nullptr;
            self->connected_ = false;
            self->schedule_reconnect();
            return;
        }
        self->connected_ = true;
    }

    static void on_ping(redisAsyncContext *ac, void *r, void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        redisReply *reply = static_cast<redisReply *>(r);
        if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
            return;  /* on_setup or the disconnect path reports it */
        }
        self->failures_ = 0;
        if (self->down_) {
            ngx_log_error(NGX_LOG_NOTICE, self->log_, 0, "edge_auth: redis %s:%d is back",
                          self->conf_->host.c_str(), self->conf_->port);
            self->down_ = false;
        }
    }

    static void on_disconnect(const redisAsyncContext *ac, int status)
    {
        auto *self = static_cast<EaRedis *>(ac->data);
        if (self->connect_deadline_.timer_set) ngx_del_timer(&self->connect_deadline_);
        self->ac_ = nullptr;  /* freed by hiredis after this callback */
        self->connected_ = false;
        if (self->shutting_down_) return;
        if (status != REDIS_OK) {
            self->report("connection lost", ac->errstr);
        }
        self->schedule_reconnect();
    }

    static void on_setup(redisAsyncContext *ac, void *r, void *data)
    {
        auto *self = static_cast<EaRedis *>(data);
        redisReply *reply = static_cast<redisReply *>(r);
        if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && self->ac_ != nullptr) {
            self->report("setup failed", edge_auth::log_safe(std::string_view(
                reply->str, reply->len), 120).c_str());
            redisAsyncDisconnect(self->ac_);
        }
    }

    static void on_connect_deadline(ngx_event_t *ev) noexcept
    {
        auto *self = static_cast<EaRedis *>(ev->data);
        self->report("connect timed out", "");
        self->drop();
    }

    /* Gives up on the connection now: pending commands fail. */
    void drop()
    {
        connected_ = false;
        if (ac_ != nullptr) {
            redisAsyncContext *ac = ac_;
            ac_ = nullptr;
            redisAsyncFree(ac);
        }
        schedule_reconnect();
    }

    void schedule_reconnect()
    {
        if (shutting_down_ || reconnect_.timer_set) return;
        failures_++;
        ngx_msec_t delay = 100 << (failures_ < 7 ? failures_ : 7);  /* 200 ms .. 12.8 s */
        ngx_add_timer(&reconnect_, delay);
    }

    static void on_reconnect(ngx_event_t *ev) noexcept
    {
        static_cast<EaRedis *>(ev->data)->connect();
    }

    /* One log line per outage, not one per request. */
    void report(const char *what, const char *detail)
    {
        if (down_) return;
        down_ = true;
        ngx_log_error(NGX_LOG_ERR, log_, 0,
                      "edge_auth: redis %s:%d %s%s%s; using the shared zone only until it "
                      "is back", conf_->host.c_str(), conf_->port, what,
                      detail[0] ? ": " : "", detail);
    }

    /* ---- commands ---- */

    static void on_reply(redisAsyncContext *ac, void *r, void *data)
    {
        auto *cmd = static_cast<Command *>(data);
        EaRedis *self = cmd->redis;
        redisReply *reply = static_cast<redisReply *>(r);
        if (cmd->finished) {  /* its deadline already answered */
            delete cmd;
            return;
        }
        self->pending_.erase(cmd);
        if (cmd->deadline.timer_set) ngx_del_timer(&cmd->deadline);

        ea_redis_reply_t out;
        if (reply == nullptr) {
            out.ok = false;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            out.ok = false;
            self->report("command failed", edge_auth::log_safe(std::string_view(
                reply->str, reply->len), 120).c_str());
        } else {
            out.ok = true;
            if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
                out.value = std::string(reply->str, reply->len);
            } else if (reply->type == REDIS_REPLY_INTEGER) {
                out.value = std::to_string(reply->integer);
            }
        }
        if (!out.ok) {
            ea_count_redis_error();
        }
        auto done = std::move(cmd->done);
        delete cmd;
        run(done, std::move(out));
    }

    static void on_command_deadline(ngx_event_t *ev) noexcept
    {
        auto *cmd = static_cast<Command *>(ev->data);
        EaRedis *self = cmd->redis;
        /* The reply may still come: the Command stays until hiredis
         * calls back (now or when the connection is dropped). */
        cmd->finished = true;
        self->pending_.erase(cmd);
        auto done = std::move(cmd->done);
        self->report("timed out", "");
        ea_count_redis_error();
        run(done, ea_redis_reply_t{});
        self->drop();  /* a slow Redis is treated as down */
    }

    void fail_soon(ea_redis_done_pt done)
    {
        /* never call back from inside command(): post it */
        ea_count_redis_error();
        ea_redis_post(std::move(done));
    }

    static void run(ea_redis_done_pt &done, ea_redis_reply_t reply)
    {
        try {
            if (done) done(std::move(reply));
        } catch (const std::exception &e) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "edge_auth: redis callback: %s",
                          e.what());
        }
    }

    const ea_redis_conf_t *conf_;
    ngx_log_t *log_;
    redisAsyncContext *ac_ = nullptr;
    ngx_connection_t *conn_ = nullptr;
    bool connected_ = false;
    bool down_ = false;
    bool shutting_down_ = false;
    unsigned failures_ = 0;
    ngx_event_t reconnect_;
    ngx_event_t connect_deadline_;
    std::unordered_set<Command *> pending_;
};

EaRedis *ea_redis_instance = nullptr;


/* A callback deferred to the next event-loop turn. */
struct Posted {
    ea_redis_done_pt done;
    ngx_event_t ev;
};

void
on_posted(ngx_event_t *ev) noexcept
{
    std::unique_ptr<Posted> p(static_cast<Posted *>(ev->data));
    try {
        if (p->done) p->done(ea_redis_reply_t{});
    } catch (...) {
    }
}

}  // namespace


void
ea_redis_post(ea_redis_done_pt done)
{
    auto *p = new Posted{std::move(done), {}};
    ngx_memzero(&p->ev, sizeof(p->ev));
    p->ev.handler = on_posted;
    p->ev.data = p;
    p->ev.log = ngx_cycle->log;
    p->ev.cancelable = 1;
    ngx_add_timer(&p->ev, 0);
}


bool
ea_redis_enabled()
{
    return ea_redis_instance != nullptr;
}


void
ea_redis_command(std::vector<std::string> args, ea_redis_done_pt done, ngx_msec_t timeout)
{
    if (ea_redis_instance == nullptr) {
        ea_redis_post(std::move(done));
        return;
    }
    ea_redis_instance->command(std::move(args), std::move(done), timeout);
}


ngx_int_t
ea_redis_init_process(ngx_cycle_t *cycle, const ea_redis_conf_t *conf) noexcept
{
    if (conf == nullptr) {
        return NGX_OK;
    }
    try {
        ea_redis_instance = new EaRedis(conf, cycle->log);
        return NGX_OK;
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "edge_auth: redis: %s", e.what());
        return NGX_ERROR;
    }
}


void
ea_redis_exit_process() noexcept
{
    delete ea_redis_instance;
    ea_redis_instance = nullptr;
}
