# Topics, queues, dead-letter queues and subscriptions, named exactly as courier-aws
# names them, all derived from the topology file.

module "topology" {
  source        = "../topology"
  topology_file = var.topology_file
}

locals {
  topics       = module.topology.topics
  queues       = module.topology.queues
  names        = module.topology.aws_names
  filters      = module.topology.sns_filter_policies
  subscription = { for k, q in local.queues : k => q if q.topic != null }
}

resource "aws_sns_topic" "this" {
  for_each = local.topics

  name                        = local.names.topics[each.key]
  fifo_topic                  = each.value.fifo
  content_based_deduplication = each.value.fifo ? each.value.content_based_deduplication : null
  kms_master_key_id           = var.sns_kms_key_id
  tags                        = var.tags
}

resource "aws_sqs_queue" "dlq" {
  for_each = local.queues

  name                       = local.names.dead_letter_queue[each.key]
  fifo_queue                 = each.value.fifo
  visibility_timeout_seconds = each.value.visibility_timeout_secs
  max_message_size           = 1048576 # new queues default to 256 KiB
  message_retention_seconds  = 1209600 # 14 days: longer than the source queue's
  sqs_managed_sse_enabled    = true
  tags                       = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each = local.queues

  name                        = local.names.queues[each.key]
  fifo_queue                  = each.value.fifo
  content_based_deduplication = each.value.fifo ? each.value.content_based_deduplication : null
  visibility_timeout_seconds  = each.value.visibility_timeout_secs
  max_message_size            = 1048576
  message_retention_seconds   = 345600
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  tags = var.tags
}

# Only its own queue may redrive into a dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

# A subscription's queue accepts messages from its topic and nothing else.
data "aws_iam_policy_document" "from_topic" {
  for_each = local.subscription

  statement {
    sid       = "TopicSendsToQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.this[each.value.topic].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "from_topic" {
  for_each = local.subscription

  queue_url = aws_sqs_queue.this[each.key].id
  policy    = data.aws_iam_policy_document.from_topic[each.key].json
}

resource "aws_sns_topic_subscription" "this" {
  for_each = local.subscription

  topic_arn            = aws_sns_topic.this[each.value.topic].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.key].arn
  raw_message_delivery = true
  filter_policy        = lookup(local.filters, each.key, null)
  filter_policy_scope  = contains(keys(local.filters), each.key) ? "MessageAttributes" : null

  depends_on = [aws_sqs_queue_policy.from_topic]
}
