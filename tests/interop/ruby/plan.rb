# A plan for the real Zeus Ruby shim that provides everything
# `zeus-fsm check --dialect zeus` needs (spec/CONFORMANCE.md) plus the
# "zcheck" command (spec/CONFORMANCE.md) for the C: path.
#
#   ruby -I$ZEUSREF/src/rubygem/lib -rrubygems -rtests/interop/ruby/plan.rb -eZeus.go
#
# Identifiers: boot (root), child_ok, child_fail, child_lazy; command: zcheck
# (aliases in zeus.json are the master's business, not the plan's).
require 'zeus'

class ZcheckPlan < Zeus::Plan
  HELPERS = __dir__

  # Root: loads one file, succeeds.
  def boot
    require File.join(HELPERS, 'boot_helper')
  end

  # Succeeds (loads one file).
  def child_ok
    require File.join(HELPERS, 'ok_helper')
    raise 'ok_helper is broken' unless ZcheckOkHelper.total([1, 2]) == 3
  end

  # Loads a file, then fails.
  def child_fail
    require File.join(HELPERS, 'fail_helper')
    raise ZcheckFailHelper::MESSAGE
  end

  # Loads nothing itself, succeeds, and loads a file 0.1 s later in a thread.
  # Kernel.load goes through Zeus::LoadTracking.add_feature, so the shim
  # reports it on the feature pipe (a plain `require` in a thread would not be).
  def child_lazy
    Thread.new do
      sleep 0.1
      Kernel.load(File.join(HELPERS, 'lazy_helper.rb'))
    end
  end

  # The check command (spec/CONFORMANCE.md). ARGV[0] selects the behaviour.
  def zcheck
    [$stdin, $stdout, $stderr].each(&:binmode)
    op, *rest = ARGV
    case op
    when 'exit'   # exit N: exit with status N (0..255), writing nothing
      exit Integer(rest.fetch(0), 10)
    when 'argv'   # argv A...: each argument after 'argv' + NUL on stdout
      rest.each { |a| $stdout.write(a.b, "\0") }
    when 'stderr' # stderr TEXT: TEXT verbatim on stderr (no newline added)
      $stderr.write(rest.fetch(0).b)
    when 'cat'    # cat: copy stdin to stdout until end-of-file
      IO.copy_stream($stdin, $stdout)
    when 'sleep'  # sleep S: sleep S seconds (decimal), then exit 0
      sleep Float(rest.fetch(0))
    when 'kill'   # kill N: send signal number N to itself
      $stdout.flush
      Process.kill(Integer(rest.fetch(0), 10), Process.pid)
      sleep 5
    when 'ids'    # ids: "<pid> <ppid> <pgid> <sid>\n" on stdout
      $stdout.write("#{Process.pid} #{Process.ppid} #{Process.getpgrp} #{Process.getsid}\n")
    else
      $stderr.write("zcheck: unknown behaviour #{op.inspect}\n")
      $stderr.flush
      exit 2
    end
    $stdout.flush
    $stderr.flush
  rescue KeyError, ArgumentError => e
    $stderr.write("zcheck: bad arguments for #{op.inspect}: #{e.message}\n")
    $stderr.flush
    exit 2
  end
end

Zeus.plan = ZcheckPlan.new
