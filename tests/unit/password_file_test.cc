// read_password_file: libpq's password-file format as scripts/infra.sh writes it.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "adapters/postgres/admin.h"

namespace ledger::adapters::postgres {
namespace {

std::string write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(PasswordFile, ReadsUsersAndPasswordsWithEscapesAndComments) {
  const auto path = write("pgpass-ok",
                          "# generated\n*:*:*:postgres:s3cret\n127.0.0.1:5432:*:ledger_query:a\\:b\\\\c\n"
                          "*:*:*:postgres:second-wins-not\n\n");
  auto read = read_password_file(path);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->size(), 2u);
  EXPECT_EQ(read->at("postgres"), "s3cret");
  EXPECT_EQ(read->at("ledger_query"), "a:b\\c");
}

TEST(PasswordFile, MalformedAndMissingFilesAreClearErrors) {
  auto malformed = read_password_file(write("pgpass-bad", "*:*:*:postgres:ok\nnot a password line\n"));
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, "secrets_file_malformed");
  EXPECT_EQ(malformed.error().evidence.size(), 1u);
  auto missing = read_password_file(::testing::TempDir() + "no-such-pgpass");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "secrets_file_unreadable");
}

}  // namespace
}  // namespace ledger::adapters::postgres
