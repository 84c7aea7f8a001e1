# Loaded by the child_ok action of plan.rb.
module ZcheckOkHelper
  def self.total(list) = list.sum
end
