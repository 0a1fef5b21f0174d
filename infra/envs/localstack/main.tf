# Deploys courier's topology and functions to LocalStack: every AWS endpoint points at
# var.localstack_url (start it with ./localstack/start.sh). Needs Terraform and internet
# access for the provider download; LocalStack without Docker cannot run the functions
# themselves (use `courier lambda run`), so they are off by default here.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true

  endpoints {
    sns        = var.localstack_url
    sqs        = var.localstack_url
    lambda     = var.localstack_url
    iam        = var.localstack_url
    sts        = var.localstack_url
    logs       = var.localstack_url
    cloudwatch = var.localstack_url
  }
}

module "courier" {
  source         = "../../modules/aws"
  topology_file  = var.topology_file
  functions      = var.functions
  lambda_zip_dir = var.lambda_zip_dir
  alarm_actions  = var.alarm_actions
  tags           = { app = "courier" }
}
