# Loaded by the boot action of plan.rb.
module ZcheckBootHelper
  GREETING = "hello from boot".freeze
end
