// HttpServer with an AsyncHttpHandler over real loopback sockets: answering
// later from another thread, resuming work on the request pool, the 500 for
// a request nobody answers, and control paths served while every
// request-pool thread is busy.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/http/client.h"
#include "adapters/http/server.h"

namespace ledger::adapters::http {
namespace {

using namespace std::chrono_literals;

TEST(HttpServerAsync, AnswersLaterFromAnotherThreadWithoutHoldingAPoolThread) {
  std::mutex mu;
  std::vector<HttpResponder> parked;
  // One request thread: a handler that kept it would block the second request.
  HttpServer server({.threads = 1}, AsyncHttpHandler([&](HttpRequest req, HttpResponder respond) {
                      if (req.path == "/park") {
                        std::lock_guard lock(mu);
                        parked.push_back(std::move(respond));
                        return;
                      }
                      respond.send(HttpResponse::json(200, R"({"path":"now"})"));
                    }));
  ASSERT_TRUE(server.start());
  auto first = std::async(std::launch::async, [&] {
    HttpClient c("127.0.0.1", server.port(), 10s);
    return c.request("GET", "/park");
  });
  auto second = std::async(std::launch::async, [&] {
    HttpClient c("127.0.0.1", server.port(), 10s);
    return c.request("GET", "/park");
  });
  // Both parked although the pool has one thread.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (parked.size() == 2) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  HttpClient c("127.0.0.1", server.port(), 10s);
  auto now = c.request("GET", "/now");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->status, 200);
  std::vector<HttpResponder> answer;
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(parked.size(), 2u);
    answer = parked;
  }
  // Answered from this thread, and (the second) from the request pool.
  answer[0].send(HttpResponse::json(201, R"({"later":1})"));
  answer[1].resume([r = answer[1]] { r.send(HttpResponse::json(202, R"({"later":2})")); });
  answer[1].send(HttpResponse::json(500, "{}"));  // may lose the race; a second send is ignored
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  std::vector<int> statuses = {a->status, b->status};
  std::sort(statuses.begin(), statuses.end());
  EXPECT_EQ(statuses[0], 201);
  EXPECT_TRUE(statuses[1] == 202 || statuses[1] == 500);
  {
    std::lock_guard lock(mu);
    parked.clear();
  }
  server.stop();
}

TEST(HttpServerAsync, AResponderDroppedUnansweredAnswers500) {
  HttpServer server({}, AsyncHttpHandler([](HttpRequest, HttpResponder) {}));
  ASSERT_TRUE(server.start());
  HttpClient c("127.0.0.1", server.port(), 10s);
  auto r = c.request("GET", "/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("internal"), std::string::npos);
}

TEST(HttpServerAsync, ControlPathsAreServedWhileEveryRequestThreadBlocks) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> blocked{0};
  HttpServer server({.threads = 2}, [&](const HttpRequest& req) {
    if (req.path == "/healthz") return HttpResponse::json(200, R"({"status":"ok"})");
    blocked.fetch_add(1);
    released.wait();
    return HttpResponse::json(200, "{}");
  });
  ASSERT_TRUE(server.start());
  std::vector<std::future<domain::Result<HttpResponse>>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::async(std::launch::async, [&] {
      HttpClient c("127.0.0.1", server.port(), 20s);
      return c.request("GET", "/slow");
    }));
  }
  for (int i = 0; i < 500 && blocked.load() < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(blocked.load(), 2);
  HttpClient c("127.0.0.1", server.port(), 10s);
  auto health = c.request("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // Answered while every request thread still blocks.
  EXPECT_EQ(blocked.load(), 2);
  for (auto& f : slow) EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  release.set_value();
  for (auto& f : slow) {
    auto r = f.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

// Options::answers_at_once: such a request runs on the io thread that read
// it, so it is answered while every request-pool thread blocks; the others
// still queue behind the pool; a request on a keep-alive connection after
// one answered at once is read and answered too.
TEST(HttpServerAsync, RequestsAnsweredAtOnceDoNotQueueBehindTheRequestPool) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> blocked{0};
  std::atomic<int> fast{0};
  HttpServer::Options options{.threads = 1};
  options.answers_at_once = [](const HttpRequest& req) { return req.path == "/fast"; };
  HttpServer server(options, [&](const HttpRequest& req) {
    if (req.path == "/fast") {
      fast.fetch_add(1);
      return HttpResponse::json(200, R"({"fast":true})");
    }
    blocked.fetch_add(1);
    released.wait();
    return HttpResponse::json(200, "{}");
  });
  ASSERT_TRUE(server.start());
  auto slow = std::async(std::launch::async, [&] {
    HttpClient c("127.0.0.1", server.port(), 20s);
    return c.request("GET", "/slow");
  });
  auto queued = std::async(std::launch::async, [&] {
    for (int i = 0; i < 500 && blocked.load() < 1; ++i) std::this_thread::sleep_for(10ms);
    HttpClient c("127.0.0.1", server.port(), 20s);
    return c.request("GET", "/queued");
  });
  for (int i = 0; i < 500 && blocked.load() < 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(blocked.load(), 1);
  HttpClient c("127.0.0.1", server.port(), 10s);
  for (int i = 0; i < 3; ++i) {  // one connection, kept alive
    auto r = c.request("POST", "/fast", "{}");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"fast":true})");
  }
  EXPECT_EQ(fast.load(), 3);
  // The pool's one thread still blocks, and the request behind it waits.
  EXPECT_EQ(blocked.load(), 1);
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(queued.wait_for(200ms), std::future_status::timeout);
  release.set_value();
  for (auto* f : {&slow, &queued}) {
    auto r = f->get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(blocked.load(), 2);
}

// Options::io_threads: each io thread runs an io_context of its own, and
// the connections are dealt to them in the order they were accepted. A
// connection's requests all run on the thread it was dealt to.
TEST(HttpServerAsync, ConnectionsAreDealtToTheIoThreadsInTurnAndStayOnTheirs) {
  constexpr int kThreads = 3;
  constexpr int kConnections = 2 * kThreads;
  std::mutex mu;
  std::vector<std::vector<std::thread::id>> ran(kConnections);  // by connection, the thread of each request
  HttpServer::Options options{.io_threads = kThreads};
  options.answers_at_once = [](const HttpRequest&) { return true; };
  HttpServer server(options, [&](const HttpRequest& req) {
    const int connection = std::stoi(req.path.substr(std::string_view("/c/").size()));
    std::lock_guard lock(mu);
    ran.at(static_cast<std::size_t>(connection)).push_back(std::this_thread::get_id());
    return HttpResponse::json(200, "{}");
  });
  ASSERT_TRUE(server.start());
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int k = 0; k < kConnections; ++k) {
    // Each connects with its first request, answered before the next
    // connects: the server accepts them in this order.
    clients.push_back(std::make_unique<HttpClient>("127.0.0.1", server.port(), 10s));
    auto r = clients.back()->request("GET", "/c/" + std::to_string(k));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->status, 200);
  }
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < kConnections; ++k) {
      auto r = clients[static_cast<std::size_t>(k)]->request("GET", "/c/" + std::to_string(k));
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->status, 200);
    }
  }
  std::lock_guard lock(mu);
  for (int k = 0; k < kConnections; ++k) {
    const auto& threads = ran[static_cast<std::size_t>(k)];
    ASSERT_EQ(threads.size(), 5U);
    EXPECT_TRUE(std::all_of(threads.begin(), threads.end(), [&](auto id) { return id == threads.front(); }))
        << "connection " << k << " ran on more than one io thread";
    EXPECT_NE(threads.front(), std::this_thread::get_id());
  }
  for (int k = 0; k < kThreads; ++k) {
    EXPECT_EQ(ran[static_cast<std::size_t>(k)].front(), ran[static_cast<std::size_t>(k + kThreads)].front())
        << "connections " << k << " and " << k + kThreads << " are dealt to the same io thread";
    for (int j = 0; j < k; ++j) {
      EXPECT_NE(ran[static_cast<std::size_t>(j)].front(), ran[static_cast<std::size_t>(k)].front())
          << "connections " << j << " and " << k << " are on different io threads";
    }
  }
}

TEST(HttpServerAsync, StopWithAParkedResponderReturnsAndTheResponderAnswersNothing) {
  std::mutex mu;
  std::optional<HttpResponder> parked;
  HttpServer server({}, AsyncHttpHandler([&](HttpRequest, HttpResponder respond) {
                      std::lock_guard lock(mu);
                      parked = std::move(respond);
                    }));
  ASSERT_TRUE(server.start());
  auto pending = std::async(std::launch::async, [&] {
    HttpClient c("127.0.0.1", server.port(), 10s);
    return c.request("GET", "/park");
  });
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (parked) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  server.stop();
  auto r = pending.get();
  EXPECT_FALSE(r);  // the connection closed unanswered
  std::lock_guard lock(mu);
  ASSERT_TRUE(parked.has_value());
  parked->send(HttpResponse::json(200, "{}"));  // after stop: nothing happens
  parked.reset();
}

// Streamed answers (HttpResponder::stream): chunks in order from another
// thread, the end, a client that goes away, and a request answered once.
TEST(HttpServerAsync, StreamsChunksInOrderUntilClosed) {
  std::mutex mu;
  std::shared_ptr<HttpStream> open_stream;
  HttpServer server({.threads = 2}, AsyncHttpHandler([&](HttpRequest req, HttpResponder respond) {
                      if (req.path == "/refused") return respond.send(HttpResponse::json(400, R"({"code":"nope"})"));
                      HttpResponse head;
                      head.content_type = "text/event-stream";
                      head.headers.emplace_back("content-length", "5");  // framing is the server's: dropped
                      auto stream = respond.stream(head);
                      ASSERT_NE(stream, nullptr);
                      EXPECT_EQ(respond.stream(head), nullptr);  // answered once
                      if (req.path == "/keep") {
                        EXPECT_TRUE(stream->write("hi\n"));
                        std::lock_guard lock(mu);
                        open_stream = stream;
                        return;
                      }
                      std::thread([stream] {
                        for (int i = 0; i < 100; ++i) EXPECT_TRUE(stream->write("chunk " + std::to_string(i) + "\n"));
                        stream->close();
                        EXPECT_FALSE(stream->write("after close"));
                      }).detach();
                    }));
  ASSERT_TRUE(server.start());
  HttpClient c("127.0.0.1", server.port(), 10s);
  std::string body;
  auto r = c.stream("GET", "/ten", {}, [&](std::string_view d) {
    body.append(d);
    return true;
  });
  ASSERT_TRUE(r) << r.error().message << " "
                 << (r.error().evidence.empty() ? "" : r.error().evidence_texts().back().second);
  EXPECT_EQ(r->status, 200);
  ASSERT_NE(r->header("content-type"), nullptr);
  EXPECT_EQ(*r->header("content-type"), "text/event-stream");
  EXPECT_EQ(r->header("content-length"), nullptr);
  std::string want;
  for (int i = 0; i < 100; ++i) want += "chunk " + std::to_string(i) + "\n";
  EXPECT_EQ(body, want);

  // A refusal comes back whole, and nothing is streamed.
  bool called = false;
  auto refused = c.stream("GET", "/refused", {}, [&](std::string_view) { return called = true; });
  ASSERT_TRUE(refused) << (refused ? "" : refused.error().evidence_texts().back().second);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(refused->body, R"({"code":"nope"})");
  EXPECT_FALSE(called);

  // A client that goes away: the stream notices on a later write.
  {
    HttpClient gone("127.0.0.1", server.port(), 10s);
    std::string first;
    auto g = gone.stream("GET", "/keep", {}, [&](std::string_view d) {
      first.append(d);
      return false;  // hang up after the first piece
    });
    EXPECT_TRUE(g);
    EXPECT_EQ(first, "hi\n");
    std::shared_ptr<HttpStream> s;
    for (int i = 0; i < 200 && !s; ++i) {
      {
        std::lock_guard lock(mu);
        s = open_stream;
      }
      if (!s) std::this_thread::sleep_for(10ms);
    }
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->write("hello"));
  }
  std::shared_ptr<HttpStream> s;
  {
    std::lock_guard lock(mu);
    s = open_stream;
  }
  bool closed = false;
  for (int i = 0; i < 500 && !closed; ++i) {
    closed = !s->write(std::string(4096, 'x'));
    if (!closed) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(closed) << "a stream whose client went away stays open";
  // The server still answers.
  auto again = c.request("GET", "/ten");
  ASSERT_TRUE(again);
  server.stop();
  EXPECT_FALSE(s->write("after stop"));
}

}  // namespace
}  // namespace ledger::adapters::http
