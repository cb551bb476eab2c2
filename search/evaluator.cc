#include "search/evaluator.h"

#include "absl/strings/str_cat.h"

namespace nas::search {

absl::StatusOr<std::unique_ptr<Nb201TableEvaluator>> Nb201TableEvaluator::Create(
    std::shared_ptr<const supernet::Nb201Table> table, const std::string& column) {
  if (column != "cifar10" && column != "cifar100" && column != "imagenet16") {
    return absl::InvalidArgumentError(
        absl::StrCat("table column '", column, "' is not one of cifar10, cifar100, imagenet16"));
  }
  return std::unique_ptr<Nb201TableEvaluator>(new Nb201TableEvaluator(std::move(table), column));
}

absl::StatusOr<double> Nb201TableEvaluator::Accuracy(const supernet::Architecture& arch) const {
  const int index = table_->IndexOf(arch);
  if (index < 0) return absl::NotFoundError("architecture is not in the NAS-Bench-201 table");
  const supernet::Nb201Table::Row& row = table_->rows()[index];
  if (column_ == "cifar10") return row.cifar10_test;
  if (column_ == "cifar100") return row.cifar100_test;
  return row.imagenet16_test;
}

}  // namespace nas::search
