/*
 * The outbound HTTP worker: one libcurl multi handle per nginx worker,
 * driven by nginx's event loop through the multi socket API. curl's sockets
 * become nginx connections whose read/write events call
 * curl_multi_socket_action; curl's timer is one nginx timer. Nothing here
 * blocks: name resolution uses curl's threaded resolver.
 *
 *   ea_http()->send(request, options, [](edge_auth::HttpResponse r) { ... });
 *
 * Ownership: a Transfer is created by send() and deleted right after its
 * completion callback ran (or when the worker exits). A socket's
 * ngx_connection_t is a wrapper for events only: the fd belongs to curl,
 * which closes it; the wrapper is freed on CURL_POLL_REMOVE.
 */

#include "ngx/ngx_edge_auth.h"

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <unordered_set>

#include "core/header_value.h"
#include "core/http.h"

namespace {

class NgxHttpClient;

struct Transfer {
    NgxHttpClient *client;
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    std::string request_body;
    edge_auth::HttpResponse response;
    std::function<void(edge_auth::HttpResponse)> done;
    size_t max_body = 0;
    bool too_large = false;
    char errbuf[CURL_ERROR_SIZE] = {0};

    ~Transfer()
    {
        if (headers) {
            curl_slist_free_all(headers);
        }
        if (easy) {
            curl_easy_cleanup(easy);
        }
        edge_auth::wipe(request_body);  /* may hold a client secret */
    }
};


class NgxHttpClient final : public edge_auth::HttpClient {
 public:
    explicit NgxHttpClient(ngx_log_t *log) : log_(log)
    {
        multi_ = curl_multi_init();
        if (multi_ == nullptr) {
            throw std::runtime_error("curl_multi_init failed");
        }
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);

        ngx_memzero(&timer_, sizeof(timer_));
        timer_.handler = on_timer_event;
        timer_.data = this;
        timer_.log = log_;
        timer_.cancelable = 1;  /* never keeps a worker from exiting */
    }

    ~NgxHttpClient() override
    {
        if (timer_.timer_set) {
            ngx_del_timer(&timer_);
        }
        for (Transfer *t : transfers_) {
            curl_multi_remove_handle(multi_, t->easy);
            delete t;
        }
        curl_multi_cleanup(multi_);  /* REMOVE callbacks free the wrappers */
    }

    void send(edge_auth::HttpRequest request, edge_auth::HttpOptions options,
              std::function<void(edge_auth::HttpResponse)> done) override
    {
        auto t = std::make_unique<Transfer>();
        t->client = this;
        t->done = std::move(done);
        t->max_body = options.max_body;
        t->request_body = std::move(request.body);
        t->easy = curl_easy_init();
        if (t->easy == nullptr) {
            throw std::runtime_error("curl_easy_init failed");
        }

        for (const auto &[name, value] : request.headers) {
            std::string line = name + ": " + value;
            curl_slist *l = curl_slist_append(t->headers, line.c_str());
            edge_auth::wipe(line);
            if (l == nullptr) {
                throw std::bad_alloc();
            }
            t->headers = l;
        }

        CURL *e = t->easy;
        curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
        curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_PROXY, "");  /* ignore *_proxy variables */
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!options.ca_file.empty()) {
            curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
        }
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(options.connect_timeout_ms));
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(options.max_body));
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
        if (request.method == "POST") {
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request_body.data());
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(t->request_body.size()));
        } else if (request.method != "GET") {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        }

        if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
            throw std::runtime_error("curl_multi_add_handle failed");
        }
        transfers_.insert(t.release());
    }

    size_t in_flight() const { return transfers_.size(); }

 private:
    static size_t on_body(char *data, size_t size, size_t n, void *userp)
    {
        Transfer *t = static_cast<Transfer *>(userp);
        size_t len = size * n;
        if (t->response.body.size() + len > t->max_body) {
            t->too_large = true;
            return 0;  /* aborts the transfer: nothing past the cap is kept */
        }
        t->response.body.append(data, len);
        return len;
    }

    static size_t on_header(char *data, size_t size, size_t n, void *userp)
    {
        Transfer *t = static_cast<Transfer *>(userp);
        std::string_view line(data, size * n);
        static const std::string_view name = "cache-control:";
        if (line.size() > name.size()) {
            bool match = true;
            for (size_t i = 0; i < name.size() && match; i++) {
                match = (line[i] | 0x20) == name[i] || line[i] == name[i];
            }
            if (match) {
                std::string_view v = line.substr(name.size());
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
                while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
                    v.remove_suffix(1);
                t->response.cache_control.assign(v);
            }
        }
        return size * n;
    }

    /* curl tells which events it wants on a socket. */
    static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                         void *socketp) noexcept
    {
        NgxHttpClient *self = static_cast<NgxHttpClient *>(userp);
        ngx_connection_t *c = static_cast<ngx_connection_t *>(socketp);

        if (what == CURL_POLL_REMOVE) {
            if (c != nullptr) {
                self->release(c);
                curl_multi_assign(self->multi_, s, nullptr);
            }
            return 0;
        }

        if (c == nullptr) {
            c = ngx_get_connection(s, self->log_);
            if (c == nullptr) {
                return -1;
            }
            c->data = self;
            c->log = self->log_;
            c->read->log = self->log_;
            c->write->log = self->log_;
            c->read->handler = on_socket_event;
            c->write->handler = on_socket_event;
            curl_multi_assign(self->multi_, s, c);
        }

        bool want_read = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
        bool want_write = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
        /* Level-triggered: curl reads a bounded amount per call and does
         * not promise to drain the socket, so edge-triggered events could
         * lose a wake-up. */
        if (want_read && !c->read->active) {
            ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
        } else if (!want_read && c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }
        if (want_write && !c->write->active) {
            ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
        } else if (!want_write && c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }
        return 0;
    }

    /* The fd stays open for curl to close or reuse. */
    void release(ngx_connection_t *c) { ea_free_event_wrapper(c, false); }

    static void on_socket_event(ngx_event_t *ev) noexcept
    {
        ngx_connection_t *c = static_cast<ngx_connection_t *>(ev->data);
        NgxHttpClient *self = static_cast<NgxHttpClient *>(c->data);
        curl_socket_t fd = c->fd;  /* c may be freed inside socket_action */
        int action = ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN;
        int running = 0;

        curl_multi_socket_action(self->multi_, fd, action, &running);
        self->complete_finished();
    }

    static int on_timer(CURLM *multi, long timeout_ms, void *userp) noexcept
    {
        NgxHttpClient *self = static_cast<NgxHttpClient *>(userp);
        if (self->timer_.timer_set) {
            ngx_del_timer(&self->timer_);
        }
        if (timeout_ms >= 0) {
            /* Never call back into curl from here: an nginx timer (0 ms
             * fires on the next loop iteration) does it. */
            ngx_add_timer(&self->timer_, static_cast<ngx_msec_t>(timeout_ms));
        }
        return 0;
    }

    static void on_timer_event(ngx_event_t *ev) noexcept
    {
        NgxHttpClient *self = static_cast<NgxHttpClient *>(ev->data);
        int running = 0;
        curl_multi_socket_action(self->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        self->complete_finished();
    }

    void complete_finished() noexcept
    {
        int left = 0;
        while (CURLMsg *msg = curl_multi_info_read(multi_, &left)) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            Transfer *t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
            CURLcode result = msg->data.result;
            curl_multi_remove_handle(multi_, t->easy);
            transfers_.erase(t);
            finish(t, result);
        }
    }

    void finish(Transfer *t, CURLcode result) noexcept
    {
        std::unique_ptr<Transfer> owned(t);
        edge_auth::HttpResponse &resp = t->response;

        if (t->too_large || result == CURLE_FILESIZE_EXCEEDED) {
            long code = 0;
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
            resp.status = static_cast<int>(code);
            resp.body.clear();
            resp.body_too_large = true;
            resp.max_body = t->max_body;
            resp.error = "response larger than " + std::to_string(t->max_body) + " bytes";
        } else if (result != CURLE_OK) {
            resp.status = 0;
            resp.body.clear();
            resp.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(result);
            resp.error = edge_auth::log_safe(resp.error, 200);
        } else {
            long code = 0;
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
            resp.status = static_cast<int>(code);
        }

        try {
            auto done = std::move(t->done);
            edge_auth::HttpResponse out = std::move(resp);
            owned.reset();
            done(std::move(out));
        } catch (const std::exception &e) {
            ngx_log_error(NGX_LOG_ALERT, log_, 0,
                          "edge_auth: outbound completion failed: %s", e.what());
        }
    }

    ngx_log_t *log_;
    CURLM *multi_ = nullptr;
    ngx_event_t timer_;
    std::unordered_set<Transfer *> transfers_;
};

NgxHttpClient *ea_http_client = nullptr;

}  // namespace


void
ea_free_event_wrapper(ngx_connection_t *c, bool fd_closing)
{
    /* With NGX_CLOSE_EVENT epoll skips the syscall: closing the fd drops it. */
    ngx_uint_t flags = fd_closing ? NGX_CLOSE_EVENT : 0;
    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }
    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }
    /* ngx_delete_posted_event is several statements: keep the braces */
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


edge_auth::HttpClient *
ea_http()
{
    return ea_http_client;
}


ngx_int_t
ea_http_init_process(ngx_cycle_t *cycle) noexcept
{
    try {
        ea_http_client = new NgxHttpClient(cycle->log);
        return NGX_OK;
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "edge_auth: cannot start the outbound HTTP worker: %s", e.what());
        return NGX_ERROR;
    }
}


void
ea_http_exit_process() noexcept
{
    delete ea_http_client;
    ea_http_client = nullptr;
}
