# The plan of spawn_plan.py for the real Zeus Ruby shim: actions that do nothing.
#
#   ruby -I$ZEUSREF/src/rubygem/lib -rrubygems -r$PWD/benchmarks/plans/spawn_plan.rb -eZeus.go
require 'zeus'

class SpawnPlan < Zeus::Plan
  # The root loads nothing.
  def boot
  end

  # A child that does nothing: R:OK right after P and the pipe.
  def child_noop
  end
end

Zeus.plan = SpawnPlan.new
