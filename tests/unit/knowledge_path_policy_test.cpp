// knowledge::PathPolicy and path_within: which server paths knowledge sources may read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "knowledge/path_policy.h"

using namespace hearth;
using hearth::knowledge::path_within;
using hearth::knowledge::PathPolicy;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {

// A fresh directory under /tmp (canonical), removed afterwards, with:
//   docs/a.md, docs/sub/b.md, docs-secret/a.md, outside/secret.txt
class PathPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/hearth_path_policy_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = fs::canonical(tmpl);
    fs::create_directories(docs() / "sub");
    fs::create_directories(dir_ / "docs-secret");
    fs::create_directories(dir_ / "outside");
    touch(docs() / "a.md");
    touch(docs() / "sub" / "b.md");
    touch(dir_ / "docs-secret" / "a.md");
    touch(dir_ / "outside" / "secret.txt");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  static void touch(const fs::path& p) { std::ofstream(p) << "x\n"; }
  fs::path docs() const { return dir_ / "docs"; }

  fs::path dir_;
};

Error denied(const PathPolicy& policy, const fs::path& p) {
  auto r = policy.resolve(p);
  EXPECT_FALSE(r.ok()) << p << " was allowed as " << (r.ok() ? r->string() : "");
  if (r) return {};
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied) << r.error().message;
  return r.error();
}

fs::path allowed(const PathPolicy& policy, const fs::path& p) {
  auto r = policy.resolve(p);
  EXPECT_TRUE(r.ok()) << p << ": " << (r.ok() ? "" : r.error().message);
  if (!r) return {};
  return *r;
}

}  // namespace

TEST_F(PathPolicyTest, FileAndDirectoryInsideARootAreAllowed) {
  const PathPolicy policy = PathPolicy::under({docs().string()});
  EXPECT_TRUE(policy.restricted());
  EXPECT_EQ(allowed(policy, docs() / "a.md"), docs() / "a.md");
  EXPECT_EQ(allowed(policy, docs() / "sub"), docs() / "sub");
  EXPECT_EQ(allowed(policy, docs()), docs()) << "the root itself";
  // A non-canonical spelling comes back canonical.
  EXPECT_EQ(allowed(policy, docs() / "sub" / ".." / "." / "a.md"), docs() / "a.md");
}

TEST_F(PathPolicyTest, RootsAreCanonicalised) {
  const PathPolicy policy = PathPolicy::under({docs().string() + "/", (dir_ / "outside" / ".." / "docs-secret").string()});
  EXPECT_THAT(policy.roots(), ::testing::ElementsAre(docs().string(), (dir_ / "docs-secret").string()));
}

TEST_F(PathPolicyTest, PathOutsideIsDeniedNamingThePathAndTheSetting) {
  const PathPolicy policy = PathPolicy::under({docs().string()});
  const fs::path p = dir_ / "outside" / "secret.txt";
  const Error e = denied(policy, p);
  EXPECT_THAT(e.message, HasSubstr(p.string()));
  EXPECT_THAT(e.message, HasSubstr("knowledge.allowed_roots"));
  EXPECT_THAT(e.message, HasSubstr(docs().string())) << "names the configured roots";
  EXPECT_EQ(e.param, "uri");
  denied(policy, dir_);  // the root's parent
  denied(policy, "/etc");
}

TEST_F(PathPolicyTest, DotDotOutOfTheRootIsDenied) {
  const PathPolicy policy = PathPolicy::under({docs().string()});
  denied(policy, docs() / ".." / "outside");
  denied(policy, docs() / ".." / "outside" / "secret.txt");
  denied(policy, docs() / "sub" / ".." / ".." / "outside" / "secret.txt");
}

TEST_F(PathPolicyTest, SiblingWithTheRootAsANamePrefixIsDenied) {
  const PathPolicy policy = PathPolicy::under({docs().string()});
  denied(policy, dir_ / "docs-secret" / "a.md");
  denied(policy, dir_ / "docs-secret");
}

TEST_F(PathPolicyTest, SymlinkInsideTheRootPointingOutsideIsDenied) {
  fs::create_symlink(dir_ / "outside" / "secret.txt", docs() / "link.txt");
  fs::create_directory_symlink(dir_ / "outside", docs() / "linkdir");
  const PathPolicy policy = PathPolicy::under({docs().string()});
  denied(policy, docs() / "link.txt");
  denied(policy, docs() / "linkdir");
  denied(policy, docs() / "linkdir" / "secret.txt");
}

TEST_F(PathPolicyTest, SymlinkInsideTheRootPointingInsideIsAllowed) {
  fs::create_symlink(docs() / "sub" / "b.md", docs() / "link.md");
  fs::create_symlink("sub/b.md", docs() / "rel-link.md");
  const PathPolicy policy = PathPolicy::under({docs().string()});
  EXPECT_EQ(allowed(policy, docs() / "link.md"), docs() / "sub" / "b.md");
  EXPECT_EQ(allowed(policy, docs() / "rel-link.md"), docs() / "sub" / "b.md");
}

TEST_F(PathPolicyTest, RootGivenThroughASymlink) {
  fs::create_directory_symlink(docs(), dir_ / "docs-link");
  const PathPolicy policy = PathPolicy::under({(dir_ / "docs-link").string()});
  EXPECT_THAT(policy.roots(), ::testing::ElementsAre(docs().string()));
  EXPECT_EQ(allowed(policy, docs() / "a.md"), docs() / "a.md");
  EXPECT_EQ(allowed(policy, docs() / "sub"), docs() / "sub");
  EXPECT_EQ(allowed(policy, dir_ / "docs-link" / "a.md"), docs() / "a.md");
  denied(policy, dir_ / "outside" / "secret.txt");
}

TEST_F(PathPolicyTest, SeveralRoots) {
  const PathPolicy policy = PathPolicy::under({docs().string(), (dir_ / "outside").string()});
  EXPECT_EQ(allowed(policy, dir_ / "outside" / "secret.txt"), dir_ / "outside" / "secret.txt");
  EXPECT_EQ(allowed(policy, docs() / "a.md"), docs() / "a.md");
  denied(policy, dir_ / "docs-secret" / "a.md");
}

TEST_F(PathPolicyTest, NoRootsDeniesEveryPath) {
  const PathPolicy policy = PathPolicy::under({});
  EXPECT_TRUE(policy.restricted());
  EXPECT_TRUE(policy.roots().empty());
  for (const fs::path& p : {docs() / "a.md", docs(), dir_, fs::path("/")}) {
    SCOPED_TRACE(p.string());
    const Error e = denied(policy, p);
    EXPECT_THAT(e.message, HasSubstr("none are configured"));
    EXPECT_THAT(e.message, HasSubstr(p.string()));
  }
}

TEST_F(PathPolicyTest, NonexistentPathIsInvalidArgument) {
  for (const PathPolicy& policy : {PathPolicy::under({docs().string()}), PathPolicy::under({}), PathPolicy::unrestricted()}) {
    for (const fs::path& p : {docs() / "missing.md", dir_ / "nowhere" / "x"}) {
      auto r = policy.resolve(p);
      ASSERT_FALSE(r.ok()) << p;
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
      EXPECT_THAT(r.error().message, HasSubstr(p.string()));
      EXPECT_THAT(r.error().message, HasSubstr("does not exist"));
    }
  }
  // A dangling symlink inside the root does not exist either.
  fs::create_symlink(dir_ / "gone", docs() / "dangling");
  auto r = PathPolicy::under({docs().string()}).resolve(docs() / "dangling");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(PathPolicyTest, UnrestrictedAllowsAnyExistingPath) {
  const PathPolicy policy = PathPolicy::unrestricted();
  EXPECT_FALSE(policy.restricted());
  EXPECT_EQ(allowed(policy, dir_ / "outside" / "secret.txt"), dir_ / "outside" / "secret.txt");
  EXPECT_EQ(allowed(policy, docs() / ".." / "docs-secret" / "a.md"), dir_ / "docs-secret" / "a.md");
  EXPECT_EQ(allowed(policy, "/"), fs::path("/"));
  fs::create_symlink(dir_ / "outside" / "secret.txt", docs() / "link.txt");
  EXPECT_EQ(allowed(policy, docs() / "link.txt"), dir_ / "outside" / "secret.txt") << "still canonical";
}

TEST_F(PathPolicyTest, RootThatDoesNotExistYetAdmitsItsContentsOnceCreated) {
  const fs::path later = dir_ / "later";
  const PathPolicy policy = PathPolicy::under({later.string()});
  EXPECT_THAT(policy.roots(), ::testing::ElementsAre(later.string()));
  fs::create_directories(later);
  touch(later / "n.md");
  EXPECT_EQ(allowed(policy, later / "n.md"), later / "n.md");
  denied(policy, docs() / "a.md");
}

TEST(PathPolicyWithin, Table) {
  struct Case {
    const char* path;
    const char* root;
    bool within;
  };
  const Case cases[] = {
      {"/data/docs", "/data/docs", true},
      {"/data/docs/a.md", "/data/docs", true},
      {"/data/docs/sub/a.md", "/data/docs", true},
      {"/data/docs/a.md", "/data/docs/", true},
      {"/data/docs", "/data/docs/", true},
      {"/data/docs/", "/data/docs", true},
      {"/data/docs/a.md", "/data/docs//", true},
      {"/data/docs-secret/a.md", "/data/docs", false},
      {"/data/docs-secret", "/data/docs", false},
      {"/data/docs-secret/a.md", "/data/docs/", false},
      {"/data/doc", "/data/docs", false},
      {"/data", "/data/docs", false},
      {"/data", "/data/docs/", false},
      {"/", "/data", false},
      {"/other/docs/a.md", "/data/docs", false},
      {"/data/docsx", "/data/docs", false},
      {"/anything/at/all", "/", true},
      {"/", "/", true},
      {"data/docs/a.md", "/data/docs", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(path_within(c.path, c.root), c.within) << "path_within(\"" << c.path << "\", \"" << c.root << "\")";
  }
}
