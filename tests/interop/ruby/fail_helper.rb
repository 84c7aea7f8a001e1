# Loaded by the child_fail action of plan.rb, which then fails.
module ZcheckFailHelper
  MESSAGE = "child_fail fails on purpose after loading fail_helper.rb".freeze
end
