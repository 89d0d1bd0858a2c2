// net/outbound_policy: address spellings and classes, allow lists, URL hosts, and the guard on
// real libcurl transfers to local servers (refused before connecting; redirects checked too).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "knowledge/embedders/remote_embedder.h"
#include "knowledge/fetch/curl_fetcher.h"
#include "models/downloader.h"
#include "net/curl.h"
#include "net/outbound_policy.h"

namespace hearth::net {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kAdvice =
    "outbound requests to loopback, private, link-local and metadata addresses are refused; list the host or its "
    "network in [outbound] allow to permit it";

OutboundRules rules_of(const std::vector<std::string>& allow) {
  auto r = compile_outbound_policy(allow);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : OutboundRules{};
}

// Sets the process's rules for one test and puts the default (nothing listed) back after.
struct ScopedRules {
  explicit ScopedRules(const std::vector<std::string>& allow) { set_outbound_rules(rules_of(allow)); }
  ~ScopedRules() { set_outbound_rules(OutboundRules{}); }
};

// ---- spellings and classes ----

struct ClassCase {
  std::string text;
  AddressClass c;
};

TEST(OutboundPolicy, ClassifiesEverySpelling) {
  using C = AddressClass;
  const std::vector<ClassCase> cases = {
      // public, including the neighbours of every special range
      {"8.8.8.8", C::kPublic}, {"1.1.1.1", C::kPublic}, {"9.255.255.255", C::kPublic}, {"11.0.0.0", C::kPublic},
      {"126.255.255.255", C::kPublic}, {"128.0.0.0", C::kPublic}, {"172.15.255.255", C::kPublic},
      {"172.32.0.0", C::kPublic}, {"192.167.255.255", C::kPublic}, {"192.169.0.0", C::kPublic},
      {"100.63.255.255", C::kPublic}, {"100.128.0.0", C::kPublic}, {"169.253.255.255", C::kPublic},
      {"169.255.0.0", C::kPublic}, {"198.17.255.255", C::kPublic}, {"198.20.0.0", C::kPublic},
      {"223.255.255.255", C::kPublic}, {"2606:4700::1111", C::kPublic}, {"2001:4860:4860::8888", C::kPublic},
      {"::ffff:8.8.8.8", C::kPublic}, {"64:ff9b::808:808", C::kPublic}, {"2002:808:808::1", C::kPublic},
      {"[2a00:1450::1]", C::kPublic}, {"134744072", C::kPublic},
      // loopback: 127.0.0.1 in decimal, octal, hex, short and IPv6 forms
      {"127.0.0.1", C::kLoopback}, {"127.255.255.254", C::kLoopback}, {"2130706433", C::kLoopback},
      {"0177.0.0.1", C::kLoopback}, {"017700000001", C::kLoopback}, {"0x7f.0.0.1", C::kLoopback},
      {"0x7f000001", C::kLoopback}, {"0X7F.0x0.0.01", C::kLoopback}, {"127.1", C::kLoopback},
      {"127.0.1", C::kLoopback}, {"0177.1", C::kLoopback}, {"::1", C::kLoopback}, {"[::1]", C::kLoopback},
      {"0:0:0:0:0:0:0:1", C::kLoopback}, {"::ffff:127.0.0.1", C::kLoopback}, {"::ffff:7f00:1", C::kLoopback},
      {"[::ffff:7f00:1]", C::kLoopback}, {"::127.0.0.1", C::kLoopback}, {"64:ff9b::7f00:1", C::kLoopback},
      {"64:ff9b::127.0.0.1", C::kLoopback}, {"2002:7f00:1::", C::kLoopback},
      // private: 10.0.0.1 spelled every way, the other RFC 1918 ranges, CGNAT, ULA
      {"10.0.0.1", C::kPrivate}, {"167772161", C::kPrivate}, {"012.0.0.1", C::kPrivate}, {"0xa.0.0.1", C::kPrivate},
      {"0x0a000001", C::kPrivate}, {"01200000001", C::kPrivate}, {"10.1", C::kPrivate}, {"10.0.1", C::kPrivate},
      {"10.255.255.255", C::kPrivate}, {"172.16.0.1", C::kPrivate}, {"172.31.255.255", C::kPrivate},
      {"192.168.0.1", C::kPrivate}, {"192.168.255.255", C::kPrivate}, {"100.64.0.1", C::kPrivate},
      {"100.127.255.255", C::kPrivate}, {"fc00::1", C::kPrivate}, {"fd12:3456::1", C::kPrivate},
      {"fec0::1", C::kPrivate}, {"::ffff:10.0.0.1", C::kPrivate}, {"::ffff:a00:1", C::kPrivate},
      {"64:ff9b::a00:1", C::kPrivate}, {"2002:c0a8:101::1", C::kPrivate}, {"64:ff9b:1::1", C::kPrivate},
      // link-local
      {"169.254.0.1", C::kLinkLocal}, {"169.254.169.253", C::kLinkLocal}, {"169.254.255.255", C::kLinkLocal},
      {"fe80::1", C::kLinkLocal}, {"febf::1", C::kLinkLocal}, {"::ffff:169.254.1.1", C::kLinkLocal},
      // metadata: 169.254.169.254 spelled every way, and the other providers' endpoints
      {"169.254.169.254", C::kMetadata}, {"2852039166", C::kMetadata}, {"0251.0376.0251.0376", C::kMetadata},
      {"0xa9.0xfe.0xa9.0xfe", C::kMetadata}, {"0xa9fea9fe", C::kMetadata}, {"025177524776", C::kMetadata},
      {"169.254.43518", C::kMetadata}, {"169.16689662", C::kMetadata}, {"::ffff:169.254.169.254", C::kMetadata},
      {"::ffff:a9fe:a9fe", C::kMetadata}, {"64:ff9b::a9fe:a9fe", C::kMetadata}, {"2002:a9fe:a9fe::", C::kMetadata},
      {"fd00:ec2::254", C::kMetadata}, {"100.100.100.200", C::kMetadata}, {"169.254.170.2", C::kMetadata},
      // unspecified
      {"0.0.0.0", C::kUnspecified}, {"0", C::kUnspecified}, {"0.1.2.3", C::kUnspecified}, {"::", C::kUnspecified},
      {"::ffff:0.0.0.0", C::kUnspecified}, {"0x0", C::kUnspecified}, {std::string(300, '0'), C::kUnspecified},
      // multicast, broadcast, reserved
      {"224.0.0.1", C::kMulticast}, {"239.255.255.255", C::kMulticast}, {"ff02::1", C::kMulticast},
      {"ff05::1:3", C::kMulticast}, {"255.255.255.255", C::kBroadcast}, {"4294967295", C::kBroadcast},
      {"0xffffffff", C::kBroadcast}, {"240.0.0.1", C::kReserved}, {"254.255.255.255", C::kReserved},
      {"192.0.0.1", C::kReserved}, {"192.0.2.1", C::kReserved}, {"198.18.0.1", C::kReserved},
      {"198.19.255.255", C::kReserved}, {"198.51.100.7", C::kReserved}, {"203.0.113.9", C::kReserved},
      {"2001:db8::1", C::kReserved}, {"2001::1", C::kReserved}, {"100::1", C::kReserved}, {"3fff::1", C::kReserved},
      {"4000::1", C::kReserved}, {"2002:c000:201::", C::kReserved},
  };
  for (const ClassCase& k : cases) {
    const auto ip = parse_ip(k.text);
    ASSERT_TRUE(ip.has_value()) << k.text;
    EXPECT_EQ(classify(*ip), k.c) << k.text << " is " << address_class_name(classify(*ip)) << ", not "
                                  << address_class_name(k.c);
  }
}

TEST(OutboundPolicy, SpellingsOfOneAddressAreEqual) {
  for (const char* s : {"2130706433", "0177.0.0.1", "017700000001", "0x7f.0.0.1", "0x7f000001", "127.1", "127.0.1"}) {
    const auto ip = parse_ip(s);
    ASSERT_TRUE(ip) << s;
    EXPECT_EQ(*ip, *parse_ip("127.0.0.1")) << s;
    EXPECT_EQ(ip->to_string(), "127.0.0.1");
    EXPECT_EQ(ip->family, IpAddress::Family::kV4);
  }
  const auto mapped = parse_ip("::ffff:7f00:1");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->family, IpAddress::Family::kV6);
  EXPECT_EQ(mapped->ipv4(), 0x7f000001u);
  EXPECT_EQ(mapped->to_string(), "::ffff:127.0.0.1");
  EXPECT_EQ(parse_ip("[::1]")->to_string(), "::1");
  EXPECT_EQ(parse_ip("::1")->ipv4(), std::nullopt);
}

TEST(OutboundPolicy, MalformedAddressesAreRefused) {
  const std::vector<std::string> bad = {
      "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.3.256", "0x", "0x.1.1.1", "1..2", "", ".", "1.", "1.2.3.4.",
      ".1.2.3", "08.0.0.1", "09", "0x1g", "4294967296", "0x100000000", "1.16777216", "1.2.65536", "-1",
      "+1", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "a.b.c.d", "localhost", "example.com", "12345678901234567890",
      std::string(10000, '1'), std::string(5000, '.'), "1" + std::string(3000, '.'), "::g", "[::1", "::1]", "[]",
      "[", "]", "[127.0.0.1]", ":::1", "1::2::3", "fe80::1%eth0", "[fe80::1%25eth0]", "fe80::1%25eth0",
      "12345::1", "::ffff:1.2.3", "::ffff:0177.0.0.1", "1:2:3:4:5:6:7:8:9", std::string(100, ':'),
      std::string("127.0.0.1\0", 10), std::string("[::1]\0", 6)};
  for (const std::string& s : bad) EXPECT_FALSE(parse_ip(s).has_value()) << "'" << s << "'";
}

TEST(OutboundPolicy, ClassNames) {
  EXPECT_STREQ(address_class_name(AddressClass::kPublic), "public");
  EXPECT_STREQ(address_class_name(AddressClass::kLoopback), "loopback");
  EXPECT_STREQ(address_class_name(AddressClass::kLinkLocal), "link-local");
  EXPECT_STREQ(address_class_name(AddressClass::kMetadata), "metadata");
}

// ---- networks and allow lists ----

TEST(OutboundPolicy, CidrMatching) {
  const auto net8 = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(net8);
  EXPECT_TRUE(net8->matches(*parse_ip("10.255.1.1")));
  EXPECT_TRUE(net8->matches(*parse_ip("::ffff:10.0.0.1")));  // the mapped form is the same address
  EXPECT_FALSE(net8->matches(*parse_ip("11.0.0.1")));
  EXPECT_FALSE(net8->matches(*parse_ip("::1")));
  const auto host_bits = parse_cidr("10.1.2.3/8");  // host bits cleared
  ASSERT_TRUE(host_bits);
  EXPECT_EQ(host_bits->network.to_string(), "10.0.0.0");
  const auto v6 = parse_cidr("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->matches(*parse_ip("fd12::1")));
  EXPECT_FALSE(v6->matches(*parse_ip("fc00::1")));
  EXPECT_FALSE(v6->matches(*parse_ip("10.0.0.1")));
  const auto single = parse_cidr("192.168.1.5");
  ASSERT_TRUE(single);
  EXPECT_TRUE(single->single_address());
  EXPECT_TRUE(single->matches(*parse_ip("192.168.1.5")));
  EXPECT_FALSE(single->matches(*parse_ip("192.168.1.6")));
  EXPECT_TRUE(parse_cidr("172.16.0.0/12")->matches(*parse_ip("172.31.255.255")));
  EXPECT_FALSE(parse_cidr("172.16.0.0/12")->matches(*parse_ip("172.32.0.0")));
  EXPECT_TRUE(parse_cidr("0.0.0.0/0")->matches(*parse_ip("127.0.0.1")));
  EXPECT_TRUE(parse_cidr("::/0")->matches(*parse_ip("::1")));
  EXPECT_TRUE(parse_cidr("fe80::/10")->matches(*parse_ip("febf::1")));
  EXPECT_FALSE(parse_cidr("fe80::/10")->matches(*parse_ip("fec0::1")));
  // inet_aton's loose forms would silently mean another network here, so entries are strict.
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/08", "10/8", "010.0.0.1", "127.1",
                          "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/ 8", "/8", "0x7f.0.0.1", "[::1]", "1.2.3.4.5"}) {
    EXPECT_FALSE(parse_cidr(bad).has_value()) << bad;
  }
}

TEST(OutboundPolicy, MalformedEntriesAreErrorsNamingThem) {
  for (const char* bad : {"10.0.0.0/33", "*", "a b", "", "*.", "**.x", "*.*.x", "a..b", ".a", "127.1", "256.1.1.1",
                          "http://x", "x/y", "host:80", "a.b.1", "fd00::/200", "ex ample.com", "tab\t.com"}) {
    auto r = compile_outbound_policy({"10.0.0.0/8", bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr(fmt::format("'{}'", bad)));
  }
  const OutboundPolicy policy{{"10.0.0.0/8", "fd00::/8", "Wiki.Corp.Example.", "*.svc.example", "192.168.1.5", "::1",
                               "under_score.lan"}};
  EXPECT_TRUE(compile_outbound_policy(policy.allow).ok());
  EXPECT_TRUE(compile_outbound_policy(std::vector<std::string>{}).value().empty());
}

TEST(OutboundPolicy, AllowListMatching) {
  const OutboundRules r = rules_of({"10.0.0.0/8", "fd00::/8", "Wiki.Corp.Example.", "*.svc.example", "192.168.1.5"});
  auto allows = [&](const char* ip, std::string_view host = "") { return r.allows(*parse_ip(ip), host); };
  EXPECT_TRUE(allows("8.8.8.8", "anything.example"));  // public: always
  EXPECT_TRUE(allows("10.1.2.3"));
  EXPECT_TRUE(allows("::ffff:10.1.2.3"));
  EXPECT_TRUE(allows("fd00::5"));
  EXPECT_TRUE(allows("192.168.1.5"));
  EXPECT_FALSE(allows("192.168.1.6"));
  EXPECT_FALSE(allows("172.16.0.1"));
  EXPECT_FALSE(allows("fe80::1"));
  EXPECT_FALSE(allows("127.0.0.1"));
  // Host entries: exact, case and a trailing dot aside.
  EXPECT_TRUE(allows("172.16.0.1", "wiki.corp.example"));
  EXPECT_TRUE(allows("172.16.0.1", "WIKI.Corp.Example."));
  EXPECT_TRUE(allows("127.0.0.1", "wiki.corp.example"));
  EXPECT_FALSE(allows("172.16.0.1", "x.wiki.corp.example"));
  EXPECT_FALSE(allows("172.16.0.1", "corp.example"));
  EXPECT_FALSE(allows("172.16.0.1", "wiki.corp.example.evil"));
  // Wildcards: subdomains only.
  EXPECT_TRUE(allows("172.16.0.1", "a.svc.example"));
  EXPECT_TRUE(allows("172.16.0.1", "A.B.Svc.Example."));
  EXPECT_FALSE(allows("172.16.0.1", "svc.example"));
  EXPECT_FALSE(allows("172.16.0.1", "xsvc.example"));
  EXPECT_FALSE(allows("172.16.0.1", "svc.example.com"));
  // Empty rules: public only.
  const OutboundRules none;
  for (const char* ip : {"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "0.0.0.0", "224.0.0.1"}) {
    EXPECT_FALSE(none.allows(*parse_ip(ip), "")) << ip;
  }
  EXPECT_TRUE(none.allows(*parse_ip("93.184.216.34"), "example.com"));
}

TEST(OutboundPolicy, MetadataOnlyWhenListedExactly) {
  const auto md = *parse_ip("169.254.169.254");
  EXPECT_FALSE(OutboundRules{}.allows(md, ""));
  // A wider network or a wildcard does not open the credentials endpoint.
  const OutboundRules wide = rules_of({"169.254.0.0/16", "0.0.0.0/0", "*.google.internal", "wiki.corp"});
  EXPECT_TRUE(wide.allows(*parse_ip("169.254.1.1"), ""));
  EXPECT_FALSE(wide.allows(md, ""));
  EXPECT_FALSE(wide.allows(md, "wiki.corp"));  // a listed name that resolves there (rebinding)
  EXPECT_FALSE(wide.allows(*parse_ip("8.8.8.8"), "metadata.google.internal"));
  EXPECT_FALSE(wide.allows_host_name("metadata.google.internal"));
  // Refused by name whatever it resolves to.
  const OutboundRules none;
  for (const char* name : {"metadata.google.internal", "METADATA.google.internal.", "metadata", "instance-data"}) {
    EXPECT_FALSE(none.allows_host_name(name)) << name;
    EXPECT_FALSE(none.allows(*parse_ip("93.184.216.34"), name)) << name;
  }
  EXPECT_TRUE(none.allows_host_name("metadata.example.com"));
  // Listed exactly: the address itself, or the name.
  EXPECT_TRUE(rules_of({"169.254.169.254"}).allows(md, ""));
  EXPECT_TRUE(rules_of({"fd00:ec2::254"}).allows(*parse_ip("fd00:ec2::254"), ""));
  const OutboundRules by_name = rules_of({"metadata.google.internal"});
  EXPECT_TRUE(by_name.allows_host_name("metadata.google.internal"));
  EXPECT_TRUE(by_name.allows(md, "metadata.google.internal"));
  EXPECT_FALSE(by_name.allows(md, "metadata"));
}

// ---- URL hosts and the check before connecting ----

TEST(OutboundPolicy, UrlHosts) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"http://Example.COM/x", "example.com"},
      {"https://user:pw@host.example:8443/p?q#f", "host.example"},
      {"http://[::1]:8080/", "::1"},
      {"http://[::ffff:7f00:1]", "::ffff:7f00:1"},
      {"http://example.com./", "example.com"},
      {"http://127.0.0.1", "127.0.0.1"},
      {"http://h?x=http://other/", "h"},
      {"http://h#@other", "h"},
      {"http://h:/", "h"},
      {"example.com:80/x", "example.com"},
      {"http://%31%32%37.0.0.1/", "127.0.0.1"},
      {"http://a@127.0.0.1/b@c", "127.0.0.1"},
  };
  for (const auto& [url, host] : good) EXPECT_EQ(url_host(url), host) << url;
  // Where libcurl might read another host, there is none (the address rules alone apply).
  for (const char* url : {"http://", "http:///x", "http://a@b@c/", "http://evil\\@127.0.0.1/", "http://[::1/",
                          "http://[::1]x/", "http://h:port/", "http://h h/", "1http://x", "http://%zz/", "http://%2f/",
                          "http://:80/", "http://.", "", "://x", "http://a%40b/", "ht tp://x"}) {
    EXPECT_FALSE(url_host(url).has_value()) << url;
  }
}

TEST(OutboundPolicy, CheckUrlHostRefusesLiteralAddressesAndMetadataNames) {
  const OutboundRules none;
  auto refused = check_url_host("http://127.0.0.1:8080/metrics", none);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message,
            fmt::format("http://127.0.0.1:8080/metrics: refused to connect to 127.0.0.1 (loopback): {}", kAdvice));
  auto decimal = check_url_host("http://2130706433/", none);
  ASSERT_FALSE(decimal.ok());
  EXPECT_THAT(decimal.error().message, HasSubstr("refused to connect to 2130706433 at 127.0.0.1 (loopback)"));
  for (const char* url : {"http://[::ffff:7f00:1]/", "http://0x7f.1/", "https://169.254.169.254/latest/meta-data/",
                          "http://user@10.0.0.1:80/", "http://[fd00:ec2::254]/", "http://metadata.google.internal/x",
                          "http://METADATA/", "http://instance-data./latest", "http://0/", "http://[::]/"}) {
    auto r = check_url_host(url, none);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
    EXPECT_THAT(r.error().message, StartsWith(fmt::format("{}: refused to connect to ", url)));
  }
  EXPECT_THAT(check_url_host("http://metadata.google.internal/", none).error().message,
              HasSubstr("metadata.google.internal (metadata)"));
  // Names other than the metadata ones are left to the guard, which sees their addresses.
  for (const char* url : {"https://example.com/", "http://localhost/", "http://8.8.8.8/", "not a url"}) {
    EXPECT_TRUE(check_url_host(url, none).ok()) << url;
  }
  EXPECT_TRUE(check_url_host("http://10.0.0.1/", rules_of({"10.0.0.0/8"})).ok());
}

TEST(OutboundPolicy, ProcessRulesDefaultToNothingListed) {
  EXPECT_TRUE(outbound_rules().empty());
  {
    ScopedRules allow({"10.0.0.0/8"});
    EXPECT_TRUE(outbound_rules().allows(*parse_ip("10.0.0.1"), ""));
    EXPECT_TRUE(check_url_host("http://10.0.0.1/").ok());
  }
  EXPECT_TRUE(outbound_rules().empty());
  EXPECT_FALSE(check_url_host("http://10.0.0.1/").ok());
}

// ---- real transfers ----

// A one-thread HTTP server on 127.0.0.x:0 that counts connections and answers by path.
class LocalServer {
 public:
  explicit LocalServer(const char* address = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &addr.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on " << address;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  void route(const std::string& path, std::string response) {
    std::lock_guard lk(mu_);
    routes_[path] = std::move(response);
  }
  int connections() const { return connections_.load(); }
  std::vector<std::string> paths() const {
    std::lock_guard lk(mu_);
    return paths_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      const std::size_t sp = request.find(' ');
      const std::string path = request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
      std::string out = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      {
        std::lock_guard lk(mu_);
        paths_.push_back(path);
        if (auto it = routes_.find(path); it != routes_.end()) out = it->second;
      }
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::string> routes_;
  std::vector<std::string> paths_;
  std::thread thread_;
};

std::string ok_response(std::string_view body) {
  return fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                     body.size(), body);
}

std::string redirect_response(std::string_view location) {
  return fmt::format("HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", location);
}

// Lets the server's accept loop see any connection that was made.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(100)); }

TEST(OutboundGuard, EmptyRulesRefuseLoopbackWithoutConnecting) {
  ScopedRules rules({});
  LocalServer server;
  server.route("/", ok_response("hello"));
  const std::string url = fmt::format("http://127.0.0.1:{}/", server.port());
  auto fetched = knowledge::make_curl_fetcher()->fetch(url, knowledge::FetchLimits{});
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(fetched.error().message, fmt::format("{}: refused to connect to 127.0.0.1 (loopback): {}", url, kAdvice));
  // A name is checked on its address, when libcurl is about to connect.
  const std::string by_name = fmt::format("http://localhost:{}/", server.port());
  auto named = knowledge::make_curl_fetcher()->fetch(by_name, knowledge::FetchLimits{});
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(named.error().message, StartsWith(by_name + ": refused to connect to localhost at "));
  EXPECT_THAT(named.error().message, HasSubstr("(loopback)"));
  settle();
  EXPECT_EQ(server.connections(), 0);
}

TEST(OutboundGuard, TheGuardAloneRefusesBeforeConnecting) {
  ScopedRules rules({});
  LocalServer server;
  ASSERT_TRUE(curl::load().ok());
  curl::Easy h(curl::easy_init());
  const std::string url = fmt::format("http://127.0.0.1:{}/", server.port());
  curl::easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  OutboundGuard guard;
  ASSERT_TRUE(guard.apply(h.get()).ok());
  EXPECT_EQ(curl::easy_perform(h.get()), CURLE_COULDNT_CONNECT);  // no check_url_host: the socket is refused
  ASSERT_TRUE(guard.refusal().has_value());
  EXPECT_EQ(guard.refusal()->code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(guard.refusal()->message, StartsWith(url + ": refused to connect to 127.0.0.1 (loopback)"));
  settle();
  EXPECT_EQ(server.connections(), 0);
}

TEST(OutboundGuard, AListedAddressIsFetched) {
  ScopedRules rules({"127.0.0.1"});
  LocalServer server;
  server.route("/", ok_response("hello"));
  auto fetched =
      knowledge::make_curl_fetcher()->fetch(fmt::format("http://127.0.0.1:{}/", server.port()), knowledge::FetchLimits{});
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  EXPECT_EQ(fetched->bytes, "hello");
  EXPECT_EQ(server.connections(), 1);
}

// The first hop goes to a listed name; its redirect to 127.0.0.1 is refused before connecting.
TEST(OutboundGuard, ARedirectToAForbiddenAddressIsRefused) {
  ScopedRules rules({"allowed.test"});
  LocalServer server;
  const std::string secret = fmt::format("http://127.0.0.1:{}/secret", server.port());
  server.route("/redirect", redirect_response(secret));
  server.route("/hello", ok_response("hello"));
  server.route("/secret", ok_response("secret"));
  ASSERT_TRUE(curl::load().ok());
  const std::string resolve = fmt::format("allowed.test:{}:127.0.0.1", server.port());
  curl::Slist resolves(curl::slist_append(nullptr, resolve.c_str()));
  auto transfer = [&](const std::string& url, OutboundGuard& guard, std::string& body) {
    curl::Easy h(curl::easy_init());
    curl::easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    curl::easy_setopt(h.get(), CURLOPT_RESOLVE, resolves.get());
    curl::easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl::easy_setopt(h.get(), CURLOPT_WRITEDATA, static_cast<void*>(&body));
    curl_write_callback write = [](char* data, size_t size, size_t n, void* out) {
      static_cast<std::string*>(out)->append(data, size * n);
      return size * n;
    };
    curl::easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, write);
    EXPECT_TRUE(guard.apply(h.get()).ok());
    EXPECT_TRUE(check_url_host(url).ok());
    return curl::easy_perform(h.get());
  };
  std::string body;
  OutboundGuard allowed;
  EXPECT_EQ(transfer(fmt::format("http://allowed.test:{}/hello", server.port()), allowed, body), CURLE_OK);
  EXPECT_EQ(body, "hello");
  EXPECT_FALSE(allowed.refusal().has_value());

  OutboundGuard redirected;
  EXPECT_EQ(transfer(fmt::format("http://allowed.test:{}/redirect", server.port()), redirected, body),
            CURLE_COULDNT_CONNECT);
  ASSERT_TRUE(redirected.refusal().has_value());
  EXPECT_EQ(redirected.refusal()->message,
            fmt::format("{}: refused to connect to 127.0.0.1 (loopback): {}", secret, kAdvice));
  settle();
  EXPECT_EQ(server.paths(), (std::vector<std::string>{"/hello", "/redirect"}));
}

// The URL fetcher end to end: an allowed server on 127.0.0.2 redirects to one on 127.0.0.1.
TEST(OutboundGuard, TheFetcherChecksEveryRedirect) {
  ScopedRules rules({"127.0.0.2"});
  LocalServer forbidden("127.0.0.1");
  forbidden.route("/secret", ok_response("secret"));
  LocalServer allowed("127.0.0.2");
  const std::string secret = fmt::format("http://127.0.0.1:{}/secret", forbidden.port());
  allowed.route("/start", redirect_response(secret));
  auto fetched = knowledge::make_curl_fetcher()->fetch(fmt::format("http://127.0.0.2:{}/start", allowed.port()),
                                                       knowledge::FetchLimits{});
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(fetched.error().message, fmt::format("{}: refused to connect to 127.0.0.1 (loopback): {}", secret, kAdvice));
  settle();
  EXPECT_EQ(allowed.connections(), 1);
  EXPECT_EQ(forbidden.connections(), 0);
}

TEST(OutboundGuard, RemoteEmbedderIsRefusedAndNotRetried) {
  ScopedRules rules({});
  LocalServer server;
  int sleeps = 0;
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    knowledge::RemoteEmbedderOptions o;
    o.base_url = fmt::format("http://{}:{}/v1", host, server.port());
    o.model = "m";
    o.max_retries = 3;
    o.sleep = [&](std::chrono::milliseconds) { ++sleeps; };
    knowledge::RemoteEmbedder e(o);
    auto v = e.embed(std::vector<std::string>{"a"});
    ASSERT_FALSE(v.ok()) << host;
    EXPECT_EQ(v.error().code, ErrorCode::kPermissionDenied);
    EXPECT_THAT(v.error().message, StartsWith(o.base_url + "/embeddings: refused to connect to "));
  }
  EXPECT_EQ(sleeps, 0);
  settle();
  EXPECT_EQ(server.connections(), 0);
}

TEST(OutboundGuard, DownloadsAreRefusedOrAllowed) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("hearth-outbound-{}", ::getpid());
  std::filesystem::remove_all(dir);
  LocalServer server;
  server.route("/model.gguf", ok_response("weights"));
  DownloadOptions opt;
  opt.dest = (dir / "sub" / "model.gguf").string();
  opt.max_attempts = 3;
  {
    ScopedRules rules({});
    for (const std::string host : {"127.0.0.1", "localhost"}) {
      opt.url = fmt::format("http://{}:{}/model.gguf", host, server.port());
      auto r = download_file(opt);
      ASSERT_FALSE(r.ok()) << host;
      EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
      EXPECT_THAT(r.error().message, StartsWith(opt.url + ": refused to connect to "));
      EXPECT_FALSE(std::filesystem::exists(opt.dest + ".part"));
    }
    settle();
    EXPECT_EQ(server.connections(), 0);
  }
  ScopedRules rules({"127.0.0.0/8"});
  opt.url = fmt::format("http://localhost:{}/model.gguf", server.port());
  auto r = download_file(opt);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->bytes, 7u);
  EXPECT_EQ(r->attempts, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::net
